"""How the worker authenticates its calls: the interface, and the `header` kind.

Three kinds, one interface: `header` (here: a secret's value as one header), `sigv4`
(worker/sigv4.py) and `oauth2` (worker/oauth2.py); worker/authenticators.py picks one for
the request spec's `auth:` (or ApiAuthSecretArn). The poster asks an authenticator
for the headers of each attempt, and after a 401 whether fresh credentials are worth one more
try. A credential is sent in clear text only to this machine (https otherwise).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from fanout.auth_spec import credential_may_travel
from fanout.errors import ConfigError
from worker.secrets import CachedCredential

# Headers a signature adds that are no secret (masking them would blank ordinary text).
PUBLIC_HEADERS = frozenset({"host", "x-amz-date", "x-amz-content-sha256"})


@dataclass(frozen=True)
class OutgoingCall:
    """One API call as it will go on the wire: what a signature covers."""

    method: str
    url: str  # absolute, as sent (path and query already percent-encoded)
    headers: Mapping[str, str]
    body: bytes


class Authenticator(Protocol):
    def headers_for(self, call: OutgoingCall) -> Mapping[str, str]:
        """Headers that authenticate this call. Raises RetryableError when the credential cannot be
        had now (a token endpoint down), PermanentError when it was refused (a wrong secret)."""
        ...

    def renew(self, refused: Mapping[str, str]) -> bool:
        """After a 401 for a call sent with `refused`: whether fresh credentials are there for one
        more try (fetched now, or already by another thread)."""
        ...

    def refusal(self, status: int, renewed: bool) -> str:
        """What a 401 or 403 means for this kind of credential, for the row's failure reason."""
        ...


def require_tls_for_credential(api_url: str) -> None:
    """A credential crosses the network only inside TLS (plain http only to this machine)."""
    if not credential_may_travel(api_url):
        raise ConfigError(
            "the API URL must be https:// when calls carry a credential: it would cross the network "
            "in clear text (http:// only to this machine)"
        )


class HeaderCredential:
    """A secret's value as one header, e.g. `x-api-key: ...` or `Authorization: Bearer ...`."""

    def __init__(self, name: str, credential: CachedCredential, source: str) -> None:
        self._name = name
        self._credential = credential
        self._source = source

    def headers_for(self, call: OutgoingCall) -> Mapping[str, str]:
        return {self._name: self._credential.value()}

    def renew(self, refused: Mapping[str, str]) -> bool:
        return False  # a static credential: asking again gives the same answer

    def refusal(self, status: int, renewed: bool) -> str:
        return f"the API refused the {self._name} header from {self._source}"


def mask_credentials(text: str, credentials: Mapping[str, str]) -> str:
    """`text` with every credential value sent (and a Bearer token on its own) replaced by ***."""
    for name, value in credentials.items():
        if name.lower() in PUBLIC_HEADERS:
            continue
        for secret in (value, value.removeprefix("Bearer ")):
            if secret:
                text = text.replace(secret, "***")
    return text
