"""Text with `{column}` placeholders, as the request spec's url, query, headers and body hold it.

`{{` and `}}` stand for literal braces. A template is parsed once and bound once to a file's
columns (an unknown name is a spec error naming the file's columns); rendering a row is then a
join of literals and cells, with no parsing per row.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from fanout.errors import InputError


@dataclass(frozen=True)
class Field:
    """A placeholder: the column whose cell goes here."""

    name: str


Part = str | Field


def columns_hint(columns: tuple[str, ...]) -> str:
    return f"(the file's columns: {', '.join(columns) if columns else 'none'})"


@dataclass(frozen=True)
class Template:
    where: str  # the spec field it came from, for error messages
    parts: tuple[Part, ...]

    @classmethod
    def parse(cls, text: str, where: str) -> Template:
        parts: list[Part] = []
        literal: list[str] = []
        i = 0
        while i < len(text):
            char = text[i]
            if text.startswith("{{", i) or text.startswith("}}", i):
                literal.append(char)
                i += 2
            elif char == "{":
                end = text.find("}", i + 1)
                name = text[i + 1 : end] if end != -1 else ""
                if end == -1 or "{" in name:
                    raise InputError(f"{where}: unmatched '{{' in {text!r} (write {{{{ for a literal brace)")
                if not name:
                    raise InputError(f"{where}: an empty placeholder {{}} in {text!r}")
                if literal:
                    parts.append("".join(literal))
                    literal = []
                parts.append(Field(name))
                i = end + 1
            elif char == "}":
                raise InputError(f"{where}: unmatched '}}' in {text!r} (write }}}} for a literal brace)")
            else:
                literal.append(char)
                i += 1
        if literal:
            parts.append("".join(literal))
        return cls(where, tuple(parts))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parts if isinstance(p, Field))

    @property
    def whole(self) -> str | None:
        """The column, when the text is exactly one placeholder (its typed value stands for it)."""
        if len(self.parts) == 1 and isinstance(self.parts[0], Field):
            return self.parts[0].name
        return None

    @property
    def literal(self) -> str | None:
        """The text, when it holds no placeholder."""
        if not self.names:
            return "".join(p for p in self.parts if isinstance(p, str))
        return None

    def partition(self, separator: str) -> tuple[Template, Template | None]:
        """Split at the first `separator` outside placeholders (a URL's path from its query)."""
        for n, part in enumerate(self.parts):
            if isinstance(part, str) and separator in part:
                before, _, after = part.partition(separator)
                head = (*self.parts[:n], before) if before else self.parts[:n]
                tail = (after, *self.parts[n + 1 :]) if after else self.parts[n + 1 :]
                return Template(self.where, head), Template(self.where, tail)
        return self, None

    def check_columns(self, columns: tuple[str, ...]) -> None:
        for name in self.names:
            if name not in columns:
                raise InputError(
                    f"{self.where}: placeholder {{{name}}} names no column {columns_hint(columns)}"
                )

    def bind(
        self, index: Mapping[str, int], encode: Callable[[str, str], str]
    ) -> Callable[[tuple[str, ...]], str]:
        """A function of a row's values; `encode(column, cell)` turns each cell into text."""
        literal = self.literal
        if literal is not None:
            return lambda values: literal
        pieces: list[tuple[str, int, str]] = []  # literal before, the cell's index, its column
        pending = ""
        for part in self.parts:
            if isinstance(part, str):
                pending += part
            else:
                pieces.append((pending, index[part.name], part.name))
                pending = ""
        tail = pending

        def render(values: tuple[str, ...]) -> str:
            out = [f"{before}{encode(name, values[i])}" for before, i, name in pieces]
            out.append(tail)
            return "".join(out)

        return render
