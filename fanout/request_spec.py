"""The request spec: how each row becomes an HTTP request (method, URL, query, headers, body, outcomes).

A spec is a JSON document (the CLI also reads YAML and stores JSON: the functions parse only
JSON, so the Lambda package needs no YAML library). Parsing checks its structure, names every
unknown field, and compiles nothing per row; binding it to a file's columns (fanout/rendering.py)
checks the placeholders and column types against the file.

Each top-level field has one parse function in SECTIONS, named as the dataclass field it fills:
adding a field (`capture`, `auth`) is a dataclass field with its default plus one entry there.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fanout.auth_spec import AuthSpec, check_destination, check_headers, parse_auth
from fanout.capture import NO_CAPTURE, Capture, parse_capture
from fanout.cells import EMPTY_MODES, TYPES
from fanout.errors import InputError
from fanout.outcomes import DEFAULT_OUTCOMES, DEFAULT_RETRY, DEFAULT_SUCCESS, Outcomes, StatusPatterns
from fanout.placeholders import Template

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
# Methods whose requests carry no body unless the spec asks for one.
BODYLESS_METHODS = frozenset({"GET", "DELETE"})
BODY_KINDS = ("default", "flat", "none")
DEFAULT_IDEMPOTENCY_HEADER = "Idempotency-Key"
# Headers http.client writes from the request itself; a spec setting them would contradict it.
RESERVED_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})
# RFC 9110 5.6.2: a field name is a token.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


@dataclass(frozen=True)
class Body:
    """`default` (every column, dotted names nest), `flat` (every column as named), `none`, or a template."""

    kind: str
    template: Any = None  # the JSON document, when kind == "template"


@dataclass(frozen=True)
class RequestSpec:
    method: str = "POST"
    url: Template = field(default_factory=lambda: Template("url", ()))
    query: dict[str, Template] = field(default_factory=dict)
    headers: dict[str, Template] = field(default_factory=dict)
    columns: dict[str, str] = field(default_factory=dict)  # column -> type name
    empty: str = "keep"
    body: Body | None = None  # None: `default`, or `none` for GET and DELETE
    outcomes: Outcomes = DEFAULT_OUTCOMES
    idempotency_header: str | None = DEFAULT_IDEMPOTENCY_HEADER
    capture: Capture = NO_CAPTURE  # response fields kept in the results file
    auth: AuthSpec | None = None  # None: ApiAuthSecretArn's Authorization header, if the stack has one

    @property
    def effective_body(self) -> Body:
        if self.body is not None:
            return self.body
        return Body("none") if self.method in BODYLESS_METHODS else Body("default")


# The request when a file names no spec and the stack has no DefaultRequest: POST to ApiUrl, a
# flat object of the row's strings, the default outcomes (DESIGN.md's request).
DEFAULT_REQUEST = RequestSpec(body=Body("flat"))


def _text(value: Any, where: str) -> str:
    """A scalar as text; YAML's unquoted yes/no/on/off are booleans, which a header never means."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        hint = " (quote it: YAML reads yes/no/on/off as booleans)" if isinstance(value, bool) else ""
        raise InputError(f"{where}: expected text, found {_kind(value)}{hint}")
    return value if isinstance(value, str) else json.dumps(value)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "text", list: "a list"}.get(
        type(value), "an object"
    )


def _mapping(value: Any, where: str) -> Mapping[Any, Any]:
    if not isinstance(value, Mapping):
        raise InputError(f"{where}: expected an object of name: value, found {_kind(value)}")
    return value


def _header_name(name: Any, where: str) -> str:
    text = str(name)
    if not _TOKEN.fullmatch(text):
        raise InputError(f"{where}: {text!r} is not a valid header name")
    return text


def parse_method(value: Any, where: str) -> str:
    method = _text(value, where).upper()
    if method not in METHODS:
        raise InputError(f"{where}: {value!r} is not one of {', '.join(METHODS)}")
    return method


def parse_url(value: Any, where: str) -> Template:
    template = Template.parse(_text(value, where), where)
    text = str(value)
    if text.lower().startswith(("http://", "https://")):
        authority = re.split(r"[/?]", text.split("://", 1)[1], maxsplit=1)[0]
        if "{" in authority or not authority:
            raise InputError(f"{where}: an absolute URL's host must be written out, not a placeholder")
    elif "://" in text.split("{", 1)[0]:
        raise InputError(f"{where}: {text!r}: an absolute URL must be http:// or https://")
    return template


def parse_query(value: Any, where: str) -> dict[str, Template]:
    items = _mapping(value, where).items()
    return {str(k): Template.parse(_text(v, f"{where}.{k}"), f"{where}.{k}") for k, v in items}


def parse_headers(value: Any, where: str) -> dict[str, Template]:
    headers: dict[str, Template] = {}
    seen: set[str] = set()
    for name, raw in _mapping(value, where).items():
        header = _header_name(name, where)
        here = f"{where}.{header}"
        if header.lower() in RESERVED_HEADERS:
            raise InputError(f"{here}: set by the HTTP client from the request itself")
        if header.lower() in seen:
            raise InputError(f"{here}: the header is named twice (header names ignore case)")
        seen.add(header.lower())
        text = _text(raw, here)
        if any(c in text for c in "\r\n\0"):
            raise InputError(f"{here}: a header value cannot hold a line break or NUL")
        headers[header] = Template.parse(text, here)
    return headers


def parse_columns(value: Any, where: str) -> dict[str, str]:
    columns: dict[str, str] = {}
    for name, type_name in _mapping(value, where).items():
        if type_name not in TYPES:
            raise InputError(f"{where}.{name}: {type_name!r} is not a type ({', '.join(TYPES)})")
        columns[str(name)] = str(type_name)
    return columns


def parse_empty(value: Any, where: str) -> str:
    mode = "null" if value is None else value  # YAML and JSON both read an unquoted null as null
    if mode not in EMPTY_MODES:
        raise InputError(f"{where}: {value!r} is not one of {', '.join(EMPTY_MODES)}")
    return str(mode)


def parse_body(value: Any, where: str) -> Body:
    if value in BODY_KINDS:
        return Body(str(value))
    if isinstance(value, str) and Template.parse(value, where).whole is None:
        raise InputError(
            f"{where}: {value!r} is not one of {', '.join(BODY_KINDS)}, nor a JSON template such as "
            '{"id": "{id}"} or a single "{column}"'
        )
    if value is None or isinstance(value, bool | int | float):
        raise InputError(
            f"{where}: expected {', '.join(BODY_KINDS)} or a JSON template, found {_kind(value)}"
        )
    _check_template(value, where)
    return Body("template", value)


def _check_template(value: Any, where: str) -> None:
    """Every string of a body template parses as a template (placeholders are checked at binding)."""
    if isinstance(value, str):
        Template.parse(value, where)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _check_template(item, f"{where}.{key}")
    elif isinstance(value, list):
        for n, item in enumerate(value):
            _check_template(item, f"{where}[{n}]")


def parse_outcomes(value: Any, where: str) -> Outcomes:
    lists = _mapping(value, where)
    unknown = sorted(str(k) for k in lists if k not in ("success", "retry"))
    if unknown:
        raise InputError(f"{where}: unknown field {unknown[0]!r} (fields: success, retry)")
    return Outcomes(
        StatusPatterns.parse(lists.get("success", list(DEFAULT_SUCCESS)), f"{where}.success"),
        StatusPatterns.parse(lists.get("retry", list(DEFAULT_RETRY)), f"{where}.retry"),
    )


def parse_idempotency_header(value: Any, where: str) -> str | None:
    if value is None or value == "none":
        return None
    return _header_name(_text(value, where), where)


# The spec's fields, each with the function that parses it into the RequestSpec field of the
# same name: the one list to extend.
SECTIONS: dict[str, Callable[[Any, str], Any]] = {
    "method": parse_method,
    "url": parse_url,
    "query": parse_query,
    "headers": parse_headers,
    "columns": parse_columns,
    "empty": parse_empty,
    "body": parse_body,
    "outcomes": parse_outcomes,
    "idempotency_header": parse_idempotency_header,
    "capture": parse_capture,
    "auth": parse_auth,
}


def parse_spec(document: Any) -> RequestSpec:
    """A RequestSpec from a parsed JSON (or YAML) document; InputError names the bad field."""
    fields = _mapping(document, "the spec")
    for name in fields:
        if name not in SECTIONS:
            raise InputError(f"unknown field {str(name)!r} (fields: {', '.join(SECTIONS)})")
    spec = RequestSpec(**{str(name): SECTIONS[str(name)](value, str(name)) for name, value in fields.items()})
    header = spec.idempotency_header
    if header and header.lower() in {h.lower() for h in spec.headers}:
        raise InputError(f"headers.{header}: the idempotency_header sets it (say idempotency_header: none)")
    if spec.auth is not None:
        check_headers(spec.auth, [*spec.headers, *([header] if header else [])])
        if absolute_url(spec):
            check_destination(spec.auth, absolute_url(spec), "url")
    return spec


def absolute_url(spec: RequestSpec) -> str:
    """The spec's URL up to its first placeholder when it is absolute (its host is written out)."""
    head = spec.url.parts[0] if spec.url.parts else ""
    return head if isinstance(head, str) and head.lower().startswith(("http://", "https://")) else ""


def check_auth_destination(spec: RequestSpec, api_url: str, what: str = "the API URL") -> None:
    """The spec's credential goes where TLS protects it: its own absolute URL, else the API URL."""
    if spec.auth is not None and not absolute_url(spec):
        check_destination(spec.auth, api_url, what)


def parse_spec_json(text: str | bytes) -> tuple[RequestSpec, Any]:
    """A stored spec (JSON), and its document as read."""
    try:
        document = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"not JSON: {exc}") from None
    return parse_spec(document), document


def spec_json(document: Any) -> str:
    """The document as the JSON stored under requests/ (and read back by parse_spec_json)."""
    try:
        return json.dumps(document, ensure_ascii=False, allow_nan=False, sort_keys=False)
    except (TypeError, ValueError) as exc:
        raise InputError(f"not representable as JSON: {exc}") from None
