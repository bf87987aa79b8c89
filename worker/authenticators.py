"""The authenticator for each `auth:` section (or ApiAuthSecretArn), kept per execution environment."""

from __future__ import annotations

import threading

import boto3

from fanout.auth_spec import AuthSpec, Header, OAuth2, SigV4
from fanout.errors import ConfigError
from worker.auth import Authenticator, HeaderCredential, require_tls_for_credential
from worker.oauth2 import ClientCredentialsToken
from worker.secrets import SecretStore
from worker.sigv4 import SigV4Signer


class Authenticators:
    """One authenticator per `auth:` section, kept for the execution environment (tokens and
    secrets cached once, whichever job or message needs them)."""

    def __init__(self, session: boto3.Session, secrets: SecretStore, region: str) -> None:
        self._session = session
        self._secrets = secrets
        self._region = region
        self._lock = threading.Lock()
        self._built: dict[AuthSpec, Authenticator] = {}

    def for_spec(self, spec: AuthSpec, api_url: str) -> Authenticator:
        require_tls_for_credential(api_url)
        with self._lock:
            if spec not in self._built:
                self._built[spec] = self._build(spec)
            return self._built[spec]

    def for_secret_arn(self, arn: str, api_url: str) -> Authenticator:
        """ApiAuthSecretArn: the `header` kind for Authorization; read now, so a missing secret or
        permission fails the cold start rather than each row."""
        require_tls_for_credential(api_url)
        credential = self._secrets.by_arn(arn)
        credential.value()
        return HeaderCredential("Authorization", credential, f"secret {arn}")

    def _build(self, spec: AuthSpec) -> Authenticator:
        if isinstance(spec, Header):
            secret_id = self._secrets.secret_id(spec.secret)
            return HeaderCredential(spec.name, self._secrets.credential(spec.secret), f"secret {secret_id}")
        if isinstance(spec, SigV4):
            return SigV4Signer(self._session, spec.service, spec.region or self._region)
        if isinstance(spec, OAuth2):
            return ClientCredentialsToken(spec, self._secrets.credential(spec.client_secret))
        raise ConfigError(f"unknown auth type {type(spec).__name__}")
