"""One row as the HTTP request a spec describes: method, URL, headers and JSON body.

A RequestRenderer binds a spec to a file's columns and the API's URL once (every placeholder,
column type and body shape checked, every template compiled); rendering a row then only joins
text and converts cells. The splitter renders each row to reject the ones that cannot become a
request, the worker renders them to send them, and `fanout preview` shows them: one code path,
so what the preview shows is what is sent.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from fanout.auth_spec import AuthSpec
from fanout.cells import OMIT, CellError, converter
from fanout.contract import ANNOTATION_PREFIX, Row, idempotency_key
from fanout.errors import InputError
from fanout.outcomes import Outcomes
from fanout.placeholders import Template, columns_hint
from fanout.request_spec import Body, RequestSpec

Values = tuple[str, ...]
Typed = list[Any]
Build = Callable[[Values, Typed], Any]

JSON_CONTENT_TYPE = "application/json"
# One encoder for every body: json.dumps with an option builds a new one per call. Its output is
# json.dumps(document, ensure_ascii=False)'s, the body the default request always had.
_ENCODE = json.JSONEncoder(ensure_ascii=False).encode


@dataclass(frozen=True)
class Origin:
    """Where a request's connection goes: scheme, host and port."""

    scheme: str
    host: str
    port: int

    @property
    def prefix(self) -> str:
        if not self.scheme:
            return self.host  # a stand-in for an API URL not given (fanout preview)
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return f"{self.scheme}://{host}" + ("" if self.port == default else f":{self.port}")

    @property
    def is_loopback(self) -> bool:
        return self.host in ("localhost", "::1") or self.host.startswith("127.")

    @classmethod
    def of(cls, url: str, what: str) -> tuple[Origin, str, str]:
        """The origin of an http(s) URL, with its path and query."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InputError(f"{what} {url!r}: expected an http:// or https:// URL")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise InputError(f"{what} {url!r}: the port is not a number") from None
        return cls(parts.scheme, parts.hostname, port), parts.path, parts.query


@dataclass(frozen=True)
class Endpoint:
    """The API URL relative spec URLs are appended to."""

    origin: Origin
    path: str
    query: str

    @classmethod
    def parse(cls, url: str, what: str = "the API URL") -> Endpoint:
        origin, path, query = Origin.of(url, what)
        return cls(origin, path, query)


# `fanout preview` without --api-url shows relative URLs after this stand-in.
UNNAMED_ENDPOINT = Endpoint(Origin("", "{ApiUrl}", 0), "", "")


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    origin: Origin
    target: str  # path and query, as on the request line
    headers: dict[str, str]
    body: bytes | None
    outcomes: Outcomes
    auth: AuthSpec | None = None  # what authenticates it (the worker adds those headers per attempt)

    @property
    def url(self) -> str:
        return self.origin.prefix + self.target


def _url_cell(column: str, cell: str) -> str:
    if cell == "":
        raise CellError(column, cell, "empty, and the URL path needs a value")
    return quote(cell, safe="")


def _query_cell(column: str, cell: str) -> str:
    return quote(cell, safe="")


def _header_cell(column: str, cell: str) -> str:
    if "\r" in cell or "\n" in cell or "\0" in cell:
        raise CellError(column, cell, "a header value cannot hold a line break or NUL")
    if not cell.isascii():
        try:
            cell.encode("latin-1")
        except UnicodeEncodeError:
            raise CellError(column, cell, "a header value must be Latin-1 text") from None
    return cell


def _text_cell(column: str, cell: str) -> str:
    return cell


class RequestRenderer:
    """A spec bound to one file's columns and the API's endpoint."""

    def __init__(self, spec: RequestSpec, columns: tuple[str, ...], endpoint: Endpoint) -> None:
        self.spec = spec
        self.columns = columns
        self._index = {name: i for i, name in enumerate(columns)}
        for name in spec.columns:
            if name not in self._index:
                raise InputError(f"columns.{name}: no such column {columns_hint(columns)}")
        self._conversions = [
            (i, converter(name, spec.columns[name], spec.empty))
            for i, name in enumerate(columns)
            if spec.columns.get(name, "string") != "string"
        ]
        self._omit_blank = spec.empty != "keep"
        # What an empty cell of any column becomes in the body (typed columns' converters agree).
        self._empty_value = converter("", "string", spec.empty)("")
        # Only `empty: omit` leaves fields out: other bodies build their objects without checking.
        self._may_omit = spec.empty == "omit"
        self._origin, self._path, self._query = self._compile_url(spec, endpoint)
        body = spec.effective_body
        self._body = None if body.kind == "none" else self._compile_body(body)
        self._static_headers: dict[str, str] = {}
        if self._body is not None:
            self._static_headers["Content-Type"] = JSON_CONTENT_TYPE
        self._headers: list[tuple[str, Callable[[Values], str], int | None]] = []
        for name, template in spec.headers.items():
            template.check_columns(columns)
            # The spec's own value replaces a default of the same name (Content-Type).
            self._static_headers = {
                k: v for k, v in self._static_headers.items() if k.lower() != name.lower()
            }
            literal = template.literal
            if literal is not None:
                self._static_headers[name] = literal
            else:
                self._headers.append((name, template.bind(self._index, _header_cell), self._blank(template)))

    @property
    def origin(self) -> Origin:
        """Where this spec's requests go: the API URL's origin, or its own absolute URL's."""
        return self._origin

    def _blank(self, template: Template) -> int | None:
        """The cell whose emptiness leaves a whole-placeholder value out (`empty: null|omit`)."""
        whole = template.whole
        return self._index[whole] if whole is not None and self._omit_blank else None

    def _compile_url(
        self, spec: RequestSpec, endpoint: Endpoint
    ) -> tuple[Origin, Callable[[Values], str], list[tuple[str, Callable[[Values], str], int | None]]]:
        template = spec.url
        template.check_columns(self.columns)
        head = template.parts[0] if template.parts else ""
        if isinstance(head, str) and head.lower().startswith(("http://", "https://")):
            scheme, rest = head.split("://", 1)
            cut = min((rest.find(c) for c in "/?" if c in rest), default=len(rest))
            origin, _, _ = Origin.of(f"{scheme.lower()}://{rest[:cut]}", "url")
            remainder = (rest[cut:], *template.parts[1:]) if rest[cut:] else template.parts[1:]
            template = Template(template.where, remainder)
            base_path, base_query = "", ""
        else:
            origin, base_path, base_query = endpoint.origin, endpoint.path, endpoint.query
        path_template, query_template = template.partition("?")
        render_path = path_template.bind(self._index, _url_cell)
        if path_template.parts:
            base = base_path.rstrip("/")

            def path(values: Values) -> str:
                return base + "/" + render_path(values).lstrip("/")
        else:
            fixed = base_path or ("/" if origin.scheme else "")

            def path(values: Values) -> str:
                return fixed

        query: list[tuple[str, Callable[[Values], str], int | None]] = []
        if base_query:
            query.append(("", Template("url", (base_query,)).bind(self._index, _query_cell), None))
        if query_template is not None and query_template.parts:
            # Written in the url itself: its literal text is already a query string.
            query.append(("", query_template.bind(self._index, _query_cell), None))
        for name, value in spec.query.items():
            value.check_columns(self.columns)
            query.append(
                (quote(name, safe="") + "=", value.bind(self._index, _query_cell), self._blank(value))
            )
        return origin, path, query

    def _compile_body(self, body: Body) -> Build:
        if body.kind == "template":
            return self._compile_template(body.template, "body")
        names = [(i, c) for i, c in enumerate(self.columns) if not c.startswith(ANNOTATION_PREFIX)]
        if body.kind == "flat":
            if not self._conversions and not self._omit_blank:
                return _strings(names, len(self.columns))
            return _object([(name, _cell(i)) for i, name in names], self._may_omit)
        return _nested(names, self._may_omit)

    def _compile_template(self, node: Any, where: str) -> Build:
        if isinstance(node, str):
            template = Template.parse(node, where)
            template.check_columns(self.columns)
            whole, literal = template.whole, template.literal
            if whole is not None:
                return _cell(self._index[whole])
            if literal is not None:
                return lambda values, typed: literal
            text = template.bind(self._index, _text_cell)
            return lambda values, typed: text(values)
        if isinstance(node, Mapping):
            fields = [(str(k), self._compile_template(v, f"{where}.{k}")) for k, v in node.items()]
            return _object(fields, self._may_omit)
        if isinstance(node, list):
            items = [self._compile_template(v, f"{where}[{n}]") for n, v in enumerate(node)]
            if not self._may_omit:
                return lambda values, typed: [b(values, typed) for b in items]
            return lambda values, typed: [v for b in items if (v := b(values, typed)) is not OMIT]
        return lambda values, typed: node

    def render(self, job_id: str, row: Row) -> Request:
        """The request for one row; CellError if a cell cannot be what the spec asks."""
        values = row.values
        if len(values) != len(self.columns):
            raise CellError("*", "", f"expected {len(self.columns)} fields, found {len(values)}")
        typed: Typed
        if self._omit_blank:
            blank = self._empty_value
            typed = [blank if cell == "" else cell for cell in values]
        elif self._conversions:
            typed = list(values)
        else:
            typed = values  # type: ignore[assignment]  # read-only here: cells are their own values
        for i, convert in self._conversions:
            typed[i] = convert(values[i])
        target = self._path(values)
        if self._query:
            params = [
                name + text(values) for name, text, blank in self._query if blank is None or values[blank]
            ]
            if params:
                target += "?" + "&".join(params)
        headers = dict(self._static_headers)
        for name, text, blank in self._headers:
            if blank is None or values[blank]:
                headers[name] = text(values)
        if self.spec.idempotency_header:
            headers[self.spec.idempotency_header] = idempotency_key(job_id, row.number)
        body = None
        if self._body is not None:
            document = self._body(values, typed)
            if document is not OMIT:
                body = _ENCODE(document).encode("utf-8")
        return Request(
            self.spec.method, self._origin, target, headers, body, self.spec.outcomes, self.spec.auth
        )


def _cell(i: int) -> Build:
    return lambda values, typed: typed[i]


def _strings(names: list[tuple[int, str]], width: int) -> Build:
    """Today's body: each column's text by its name, built as cheaply as it was before specs."""
    keys = [name for _, name in names]
    if len(keys) == width:
        return lambda values, typed: dict(zip(keys, values, strict=True))
    indices = [i for i, _ in names]
    return lambda values, typed: {k: values[i] for k, i in zip(keys, indices, strict=True)}


def _object(fields: list[tuple[str, Build]], may_omit: bool) -> Build:
    if not may_omit:
        return lambda values, typed: {k: b(values, typed) for k, b in fields}

    def build(values: Values, typed: Typed) -> dict[str, Any]:
        return {k: v for k, b in fields if (v := b(values, typed)) is not OMIT}

    return build


def _nested(names: list[tuple[int, str]], may_omit: bool) -> Build:
    """The `default` body: dotted column names nest (address.city -> {"address": {"city": ...}})."""
    paths = {name: tuple(name.split(".")) for _, name in names}
    by_path = {path: name for name, path in paths.items()}
    for name, path in paths.items():
        for n in range(1, len(path)):
            other = by_path.get(path[:n])
            if other is not None:
                raise InputError(
                    f"body: columns {other} and {name} cannot both be fields of the default body "
                    f"({other} would be a value and an object); use body: flat or a template"
                )
    tree: dict[str, Any] = {}
    for i, name in names:
        node = tree
        for key in paths[name][:-1]:
            node = node.setdefault(key, {})
        node[paths[name][-1]] = i
    return _compile_tree(tree, may_omit)


def _compile_tree(tree: dict[str, Any], may_omit: bool) -> Build:
    fields = [(k, _cell(v) if isinstance(v, int) else _compile_tree(v, may_omit)) for k, v in tree.items()]
    return _object(fields, may_omit)
