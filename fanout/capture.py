"""The request spec's `capture`: fields of each response kept as columns of the results file.

    capture: {customer_id: id, version: meta.version, etag: headers.ETag}

An expression is JMESPath (it comes with boto3) on the JSON response body, or `headers.NAME`, a
response header (any case). Expressions are compiled when the spec is parsed, so once per spec in
an execution environment, never per row. A response that is not JSON, or a path that finds
nothing, leaves the column empty: capturing never fails a row.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import jmespath
from jmespath.exceptions import JMESPathError

from fanout.errors import InputError
from fanout.results import RESULT_COLUMNS

HEADER_PREFIX = "headers."
# A column name that a spreadsheet or a join can use as it is.
_COLUMN = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")
_TAKEN = frozenset(RESULT_COLUMNS)


class Headers(Protocol):
    def get(self, name: str, /) -> str | None: ...


@dataclass(frozen=True)
class _Field:
    name: str
    expression: str
    header: str | None  # the header's name, for headers.NAME
    compiled: Any = None  # jmespath's parsed expression, for the body


@dataclass(frozen=True)
class Capture:
    fields: tuple[_Field, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def __bool__(self) -> bool:
        return bool(self.fields)

    def extract(self, body: bytes, headers: Headers) -> dict[str, str]:
        """Each field's value as text (JSON for objects and lists); empty where nothing is found,
        so every column is in the results even when no answer had it."""
        values = dict.fromkeys(self.names, "")
        document: Any = _NOT_PARSED
        for field in self.fields:
            if field.header is not None:
                found = headers.get(field.header)
                if found is not None:
                    values[field.name] = found
                continue
            if document is _NOT_PARSED:
                document = _json(body)
            if document is _NOT_JSON:
                continue
            value = field.compiled.search(document)
            if value is not None:
                values[field.name] = value if isinstance(value, str) else _compact(value)
        return values


NO_CAPTURE = Capture()
_NOT_PARSED = object()
_NOT_JSON = object()


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:  # not JSON, or not UTF-8 (UnicodeDecodeError is a ValueError)
        return _NOT_JSON


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def parse_capture(value: Any, where: str) -> Capture:
    if not isinstance(value, Mapping):
        raise InputError(f"{where}: expected a mapping of column: expression (e.g. {{customer_id: id}})")
    fields = []
    for name, expression in value.items():
        column = str(name)
        if not _COLUMN.fullmatch(column) or column in _TAKEN:
            raise InputError(
                f"{where}.{column}: a column name is a letter, then letters, digits, _ . - (not one of "
                f"{', '.join(sorted(_TAKEN))})"
            )
        if not isinstance(expression, str) or not expression.strip():
            raise InputError(f"{where}.{column}: expected an expression such as id or headers.ETag")
        text = expression.strip()
        if text.startswith(HEADER_PREFIX):
            header = text[len(HEADER_PREFIX) :]
            if not header:
                raise InputError(f"{where}.{column}: headers. needs a header name (headers.ETag)")
            fields.append(_Field(column, text, header))
            continue
        try:
            compiled = jmespath.compile(text)
        except JMESPathError as exc:
            reason = str(exc).splitlines()[0]
            raise InputError(f"{where}.{column}: {text!r} is not a JMESPath expression: {reason}") from None
        fields.append(_Field(column, text, None, compiled))
    return Capture(tuple(fields))
