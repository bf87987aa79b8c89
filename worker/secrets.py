"""Secrets the API's credentials come from: read from Secrets Manager at run time, cached, refreshed.

A value lives only in this process's memory: never in the environment, a log line, an error
message or a dead letter. The template gives the worker the secrets' names (or, for
ApiAuthSecretArn, an ARN), never their values.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from fanout.errors import ConfigError, FanoutError

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

log = logging.getLogger("fanout.worker")

# A secret is read again after this long, so a rotated secret reaches warm execution
# environments without a cold start (rotation keeps the previous version valid meanwhile).
CREDENTIAL_REFRESH_S = 300.0


def read_secret_string(secrets: SecretsManagerClient, secret_id: str) -> str:
    """The secret's SecretString; a ConfigError (never the value) if it is missing or empty."""
    try:
        value = secrets.get_secret_value(SecretId=secret_id).get("SecretString", "").strip()
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("ResourceNotFoundException", "AccessDeniedException"):
            raise ConfigError(f"secret {secret_id} cannot be read: {code}") from None
        raise
    if not value:
        raise ConfigError(f"secret {secret_id} has no SecretString")
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


class SecretStore:
    """The spec's secrets by NAME, each `<prefix>NAME` in Secrets Manager, cached per environment."""

    def __init__(self, client: SecretsManagerClient, prefix: str) -> None:
        self._client = client
        self._prefix = prefix
        self._lock = threading.Lock()
        self._cached: dict[str, CachedCredential] = {}

    def secret_id(self, name: str) -> str:
        return self._prefix + name

    def credential(self, name: str) -> CachedCredential:
        """The secret NAME, read on first use (a missing secret raises ConfigError then)."""
        with self._lock:
            if name not in self._cached:
                secret_id = self.secret_id(name)
                self._cached[name] = CachedCredential(lambda: read_secret_string(self._client, secret_id))
            return self._cached[name]

    def by_arn(self, arn: str) -> CachedCredential:
        """ApiAuthSecretArn's secret, which the template names by its full ARN."""
        with self._lock:
            if arn not in self._cached:
                self._cached[arn] = CachedCredential(lambda: read_secret_string(self._client, arn))
            return self._cached[arn]
