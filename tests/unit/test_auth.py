"""Secrets are read once and refreshed on a schedule; a credential header goes only where TLS protects it."""

import pytest
from botocore.exceptions import EndpointConnectionError

from fanout.errors import ConfigError
from worker.auth import HeaderCredential, OutgoingCall, mask_credentials, require_tls_for_credential
from worker.secrets import CachedCredential

CALL = OutgoingCall("POST", "https://api.example.com/rows", {}, b"{}")


class Reads:
    """A secret store that counts its reads and can be told to fail."""

    def __init__(self, *values: str) -> None:
        self.values = list(values)
        self.count = 0
        self.failing = False

    def __call__(self) -> str:
        self.count += 1
        if self.failing:
            raise EndpointConnectionError(endpoint_url="https://secretsmanager")
        return self.values[min(self.count, len(self.values)) - 1]


def test_the_credential_is_read_once_until_it_is_due_for_a_refresh() -> None:
    # GIVEN a credential refreshed every 300 s
    reads, now = Reads("Bearer one", "Bearer two"), [0.0]
    credential = CachedCredential(reads, refresh_s=300, clock=lambda: now[0])
    # WHEN it is used many times within 300 s, THEN it was read once
    assert {credential.value() for _ in range(100)} == {"Bearer one"}
    assert reads.count == 1
    # WHEN 300 s have passed, THEN the next use reads the rotated value
    now[0] = 300.0
    assert credential.value() == "Bearer two"
    assert reads.count == 2


def test_a_failed_refresh_keeps_the_previous_credential_but_a_failed_first_read_raises() -> None:
    reads, now = Reads("Bearer one"), [0.0]
    credential = CachedCredential(reads, refresh_s=300, clock=lambda: now[0])
    credential.value()
    reads.failing, now[0] = True, 301.0
    assert credential.value() == "Bearer one"
    assert credential.value() == "Bearer one"
    assert reads.count == 2  # not read again on every call after a failure
    fresh = Reads()
    fresh.failing = True
    with pytest.raises(EndpointConnectionError):
        CachedCredential(fresh).value()


def test_a_configuration_error_on_the_first_read_is_not_hidden() -> None:
    def empty() -> str:
        raise ConfigError("secret arn:x has no SecretString")

    with pytest.raises(ConfigError, match="no SecretString"):
        CachedCredential(empty).value()


def test_the_header_kind_sends_the_secret_under_any_header_name() -> None:
    api_key = HeaderCredential("x-api-key", CachedCredential(Reads("k-123")), "secret fanout/api-key")
    assert api_key.headers_for(CALL) == {"x-api-key": "k-123"}
    assert api_key.renew({"x-api-key": "k-123"}) is False  # a static key is not asked for again
    assert "x-api-key" in api_key.refusal(401, renewed=False)
    assert "fanout/api-key" in api_key.refusal(401, renewed=False)


def test_a_credential_is_sent_only_over_https_or_to_this_machine() -> None:
    for url in ("https://api.example.com/rows", "http://127.0.0.1:8080/rows", "http://localhost/rows"):
        require_tls_for_credential(url)
    for url in ("http://api.example.com/rows", "http://127.example.com/rows"):
        with pytest.raises(ConfigError, match="https"):
            require_tls_for_credential(url)


def test_credentials_an_api_echoes_are_masked_but_public_signature_headers_are_not() -> None:
    sent = {"Authorization": "Bearer tok-abc", "X-Amz-Date": "20261202T010203Z", "x-api-key": "k-9"}
    echoed = '{"error":"bad token tok-abc at 20261202T010203Z","key":"k-9","auth":"Bearer tok-abc"}'
    assert mask_credentials(echoed, sent) == (
        '{"error":"bad token *** at 20261202T010203Z","key":"***","auth":"***"}'
    )
