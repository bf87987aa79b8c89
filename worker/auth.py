"""The API credential: read from Secrets Manager at run time, cached, sent as the Authorization header.

The value lives only in this process's memory: never in the environment, a log line or an error
message. The template gives the worker the secret's ARN (API_AUTH_SECRET_ARN), never its value.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ClientError
from requests import PreparedRequest
from requests.auth import AuthBase

from fanout.errors import ConfigError, FanoutError

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

log = logging.getLogger("fanout.worker")

# A credential is read again after this long, so a rotated secret reaches warm execution
# environments without a cold start (rotation keeps the previous version valid meanwhile).
CREDENTIAL_REFRESH_S = 300.0


def require_tls_for_credential(api_url: str) -> None:
    """A credential crosses the network only inside TLS (plain http only to this machine)."""
    parsed = urlsplit(api_url)
    host = parsed.hostname or ""
    if parsed.scheme == "https" or host == "localhost" or host == "::1" or host.startswith("127."):
        return
    raise ConfigError(
        "API_URL must be https:// when API_AUTH_SECRET_ARN is set: the credential would cross "
        "the network in clear text"
    )


def read_secret_string(secrets: SecretsManagerClient, secret_arn: str) -> str:
    value = secrets.get_secret_value(SecretId=secret_arn).get("SecretString", "").strip()
    if not value:
        raise ConfigError(f"secret {secret_arn} has no SecretString to send as the Authorization header")
    return value


class CachedCredential:
    """A credential read once and then again every `refresh_s`, shared by all threads."""

    def __init__(
        self,
        fetch: Callable[[], str],
        refresh_s: float = CREDENTIAL_REFRESH_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._refresh_s = refresh_s
        self._clock = clock
        self._lock = threading.Lock()
        self._value: str | None = None
        self._read_at = 0.0

    def value(self) -> str:
        with self._lock:
            if self._value is None or self._clock() - self._read_at >= self._refresh_s:
                self._value = self._read_again(self._value)
                self._read_at = self._clock()
            return self._value

    def _read_again(self, previous: str | None) -> str:
        try:
            return self._fetch()
        except (BotoCoreError, ClientError, FanoutError) as exc:
            if previous is None:
                raise
            # The credential read before is likely still valid; the next refresh tries again.
            log.warning("could not read the API credential again, keeping the previous one: %s", exc)
            return previous


class AuthorizationHeader(AuthBase):
    """Puts the cached credential into each request's Authorization header."""

    def __init__(self, credential: CachedCredential) -> None:
        self._credential = credential

    def __call__(self, request: PreparedRequest) -> PreparedRequest:
        request.headers["Authorization"] = self.value()
        return request

    def value(self) -> str:
        """The header's value now (the worker's poster asks for it on each row)."""
        return self._credential.value()


def authorization_from_secret(
    secrets: SecretsManagerClient, secret_arn: str, api_url: str
) -> AuthorizationHeader:
    """Reads the secret now, so a missing secret or permission fails the cold start, not each row."""
    require_tls_for_credential(api_url)
    credential = CachedCredential(lambda: read_secret_string(secrets, secret_arn))
    credential.value()
    return AuthorizationHeader(credential)
