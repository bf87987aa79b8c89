"""The request spec's `auth:` section: how the worker proves itself to the API.

    auth: {type: sigv4, service: execute-api, region: us-east-1}   # signed with the worker's role
    auth: {type: oauth2, token_url: https://id.example.com/oauth2/token, scope: "a b",
           client_id: my-client, client_secret: NAME}              # client credentials grant
    auth: {type: header, name: x-api-key, secret: NAME}            # an API key, a "Bearer ..." value

NAME is a Secrets Manager secret under the stack's own prefix (`<stack name>/NAME`): the spec
names secrets, it never holds their values. Parsed on both sides: the CLI validates a spec
before anything is uploaded (and masks in `fanout preview`), the worker builds its
authenticator from the same dataclasses.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import MISSING, dataclass, fields
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

from fanout.errors import InputError

# Secrets Manager secret names: 1-512 of letters, digits and /_+=.@- (Secrets Manager API
# Reference, CreateSecret Name). The stack's prefix and "/" take part of that length.
SECRET_NAME = re.compile(r"[A-Za-z0-9/_+=.@-]{1,400}")
# An HTTP header name is a token (RFC 9110 5.1, 5.6.2).
HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# Headers the worker sets itself: a credential may not replace them.
RESERVED_HEADERS = frozenset({"host", "content-length", "content-type", "transfer-encoding", "connection"})
AWS_NAME = re.compile(r"[a-z0-9-]{1,64}")

ClientAuth = Literal["basic", "body"]


def is_loopback_url(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name other than localhost may resolve anywhere


def credential_may_travel(url: str) -> bool:
    """A credential crosses the network only inside TLS (plain http only to this machine)."""
    return urlsplit(url).scheme == "https" or is_loopback_url(url)


@dataclass(frozen=True)
class SigV4:
    """Every call signed with AWS Signature Version 4 by the worker's execution role."""

    type: ClassVar[str] = "sigv4"
    service: str = "execute-api"
    region: str = ""  # empty: the region the worker runs in

    @property
    def secrets(self) -> tuple[str, ...]:
        return ()


@dataclass(frozen=True)
class OAuth2:
    """An OAuth2 access token from the client credentials grant (RFC 6749 4.4) as a Bearer header."""

    type: ClassVar[str] = "oauth2"
    token_url: str
    client_id: str
    client_secret: str  # the secret's NAME
    scope: str = ""
    # How the client authenticates to the token endpoint: HTTP Basic (RFC 6749 2.3.1, which every
    # server must accept) or client_id/client_secret in the form body (some servers want that).
    client_auth: ClientAuth = "basic"

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.client_secret,)


@dataclass(frozen=True)
class Header:
    """A secret's value as one header: an API key, or an Authorization value such as "Bearer ..."."""

    type: ClassVar[str] = "header"
    secret: str  # the secret's NAME
    name: str = "Authorization"

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.secret,)


AuthSpec = SigV4 | OAuth2 | Header
TYPES: dict[str, type[SigV4] | type[OAuth2] | type[Header]] = {
    kind.type: kind for kind in (SigV4, OAuth2, Header)
}


def parse_auth(raw: Any, field: str = "auth") -> AuthSpec:
    """The section from the spec's parsed YAML/JSON; an InputError names the field that is wrong."""
    if not isinstance(raw, Mapping):
        raise InputError(f"{field}: expected a mapping with a type ({', '.join(TYPES)})")
    kind_name = raw.get("type")
    if kind_name not in TYPES:
        raise InputError(f"{field}.type: expected one of {', '.join(TYPES)}, got {kind_name!r}")
    kind = TYPES[kind_name]
    names = [f.name for f in fields(kind)]
    unknown = sorted(set(raw) - {"type", *names})
    if unknown:
        raise InputError(
            f"{field}: unknown field {unknown[0]!r} for type {kind_name} (fields: type, {', '.join(names)})"
        )
    values: dict[str, str] = {}
    for name in names:
        if name in raw:
            if not isinstance(raw[name], str):
                raise InputError(f"{field}.{name}: expected text, got {type(raw[name]).__name__}")
            values[name] = raw[name].strip()
    missing = [f.name for f in fields(kind) if f.default is MISSING and f.name not in values]
    if missing:
        raise InputError(f"{field}.{missing[0]}: required for type {kind_name}")
    spec = kind(**values)  # type: ignore[arg-type]
    _check(spec, field)
    return spec


def _check(spec: AuthSpec, field: str) -> None:
    for name in spec.secrets:
        if not SECRET_NAME.fullmatch(name):
            raise InputError(
                f"{field}: secret name {name!r} must be 1-400 of letters, digits and /_+=.@- "
                "(a Secrets Manager secret under the stack's prefix)"
            )
    if isinstance(spec, SigV4):
        for name in ("service", "region"):
            value = getattr(spec, name)
            if value and not AWS_NAME.fullmatch(value):
                raise InputError(f"{field}.{name}: {value!r} is not an AWS {name} name (such as us-east-1)")
        if not spec.service:
            raise InputError(f"{field}.service: must not be empty (for example execute-api)")
    elif isinstance(spec, OAuth2):
        parts = urlsplit(spec.token_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InputError(f"{field}.token_url: expected an https:// URL, got {spec.token_url!r}")
        if not credential_may_travel(spec.token_url):
            raise InputError(
                f"{field}.token_url: must be https:// (the client secret would cross the network in "
                "clear text; http:// only to this machine)"
            )
        if not spec.client_id:
            raise InputError(f"{field}.client_id: must not be empty")
        if spec.client_auth not in ("basic", "body"):
            raise InputError(f"{field}.client_auth: expected basic or body, got {spec.client_auth!r}")
    elif not HEADER_NAME.fullmatch(spec.name) or spec.name.lower() in RESERVED_HEADERS:
        raise InputError(f"{field}.name: {spec.name!r} is not a header name a credential may use")


def headers_set_by(spec: AuthSpec) -> tuple[str, ...]:
    """The headers the credential puts on each call."""
    if isinstance(spec, SigV4):
        return ("Authorization", "X-Amz-Date", "X-Amz-Content-Sha256", "X-Amz-Security-Token")
    if isinstance(spec, OAuth2):
        return ("Authorization",)
    return (spec.name,)


def check_headers(spec: AuthSpec, headers: Iterable[str]) -> None:
    """A spec's own headers may not also be set by its credential."""
    taken = {name.lower() for name in headers_set_by(spec)}
    for name in headers:
        if name.lower() in taken:
            raise InputError(f"headers.{name}: auth ({spec.type}) sets it; leave it out of headers")


def check_destination(spec: AuthSpec, url: str, what: str) -> None:
    """A credential never crosses the network in clear text (http:// only to this machine)."""
    if not credential_may_travel(url):
        raise InputError(
            f"{what} {url!r}: auth ({spec.type}) needs https:// (the credential would cross the network "
            "in clear text; http:// only to this machine)"
        )


def masked_headers(spec: AuthSpec | None, headers: Mapping[str, str]) -> dict[str, str]:
    """What `fanout preview` shows: the headers a credential would add, with the credential masked."""
    shown = dict(headers)
    if isinstance(spec, SigV4):
        shown["X-Amz-Date"] = "<signing time>"
        shown["X-Amz-Content-Sha256"] = "<SHA-256 of the body>"
        region = spec.region or "<the worker's region>"
        shown["Authorization"] = f"AWS4-HMAC-SHA256 Credential=<role>/{region}/{spec.service} ***"
    elif isinstance(spec, OAuth2):
        shown["Authorization"] = f"Bearer *** (a token from {spec.token_url})"
    elif isinstance(spec, Header):
        shown[spec.name] = f"*** (secret {spec.secret})"
    return shown
