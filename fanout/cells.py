"""A CSV cell as a typed JSON value: the request spec's `columns` and `empty` rules.

A cell that does not convert rejects its row (with the column, the value and the reason); the
splitter finds these before anything is sent, the worker converts again with the same code.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

from fanout.errors import PermanentError

TYPES = ("string", "integer", "number", "boolean", "json")
EMPTY_MODES = ("keep", "null", "omit")
# Characters of a cell quoted in a rejection's excerpt.
VALUE_EXCERPT_CHARS = 80

_INTEGER = re.compile(r"[+-]?[0-9]+")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})


class Omitted:
    """The value of an empty cell under `empty: omit`: its field is left out."""

    _instance: Omitted | None = None

    def __new__(cls) -> Omitted:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "OMIT"


OMIT = Omitted()


class CellError(PermanentError):
    """A cell that cannot become what the spec asks for: its row is rejected."""

    def __init__(self, column: str, value: str, reason: str) -> None:
        super().__init__(f"column {column}: {reason}")
        self.column = column
        self.value = value
        self.reason = reason

    @property
    def excerpt(self) -> str:
        return self.value[:VALUE_EXCERPT_CHARS]


def _integer(cell: str) -> int:
    text = cell.strip()
    # str.isdigit is cheaper than the pattern, but also takes digits that are not ASCII.
    if not (text.isascii() and text.isdigit()) and not _INTEGER.fullmatch(text):
        raise ValueError("not an integer")
    return int(text)


def _number(cell: str) -> int | float:
    text = cell.strip()
    if not _NUMBER.fullmatch(text):
        raise ValueError("not a number")
    if _INTEGER.fullmatch(text):
        return int(text)
    value = float(text)
    if math.isinf(value):
        raise ValueError("a number too large for JSON")
    return value


def _boolean(cell: str) -> bool:
    text = cell.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError("not a boolean (true/false, 1/0, yes/no)")


def _no_constant(name: str) -> Any:
    raise ValueError(f"not JSON: {name} is not a JSON value")


# One decoder for every cell: json.loads with an option builds a new one per call.
_DECODER = json.JSONDecoder(parse_constant=_no_constant)


def _json(cell: str) -> Any:
    try:
        return _DECODER.decode(cell)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc.msg} at character {exc.pos}") from None


def _string(cell: str) -> str:
    return cell


CONVERTERS: dict[str, Callable[[str], Any]] = {
    "string": _string,
    "integer": _integer,
    "number": _number,
    "boolean": _boolean,
    "json": _json,
}


def converter(column: str, type_name: str, empty: str) -> Callable[[str], Any]:
    """The cell as the JSON value its column's type says, or OMIT; raises CellError."""
    convert = CONVERTERS[type_name]
    blank: Any = "" if empty == "keep" else None if empty == "null" else OMIT
    if type_name == "string":
        return lambda cell: cell if cell != "" else blank

    def typed(cell: str) -> Any:
        if cell == "":
            return blank
        try:
            return convert(cell)
        except ValueError as exc:
            raise CellError(column, cell, str(exc)) from None

    return typed
