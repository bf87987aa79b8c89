"""SigV4: botocore's signature over exactly what is sent, with the role's current credentials."""

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.credentials import Credentials, RefreshableCredentials

from fanout.errors import ConfigError
from infra.demo.api import Call
from tests.auth_apis import sigv4_problem
from worker.auth import OutgoingCall
from worker.sigv4 import SigV4Signer, host_header

URL = "http://127.0.0.1:8080/prod/rows?b=2&a=1"
BODY = '{"id": "1", "name": "Zoë"}'.encode()


class Session:
    """What the signer uses of a boto3 session: its credential provider."""

    def __init__(self, credentials: Any) -> None:
        self._credentials = credentials

    def get_credentials(self) -> Any:
        return self._credentials


def signed_call(signer: SigV4Signer, body: bytes = BODY) -> Call:
    headers = {"Content-Type": "application/json", "Idempotency-Key": "job:1", "User-Agent": "fanout-worker"}
    added = signer.headers_for(OutgoingCall("POST", URL, headers, body))
    return Call("job:1", {}, 1, {**headers, **added}, path="/prod/rows?b=2&a=1", body=body)


def test_the_signature_verifies_over_method_path_query_headers_and_body() -> None:
    credentials = Credentials("AKIDEXAMPLE", "secret-example")
    signer = SigV4Signer(Session(credentials), "execute-api", "us-east-1")  # type: ignore[arg-type]
    call = signed_call(signer)
    assert sigv4_problem(call, credentials, "execute-api", "us-east-1") is None
    assert call.headers["Host"] == "127.0.0.1:8080"
    assert "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/" in call.headers["Authorization"]
    assert "/us-east-1/execute-api/aws4_request" in call.headers["Authorization"]
    assert "idempotency-key" in call.headers["Authorization"]  # every header sent is signed


def test_a_changed_body_header_or_key_does_not_verify() -> None:
    credentials = Credentials("AKIDEXAMPLE", "secret-example")
    signer = SigV4Signer(Session(credentials), "execute-api", "us-east-1")  # type: ignore[arg-type]
    call = signed_call(signer)
    tampered_body = Call(call.key, {}, 1, call.headers, call.path, BODY.replace(b"1", b"2"))
    assert sigv4_problem(tampered_body, credentials, "execute-api", "us-east-1") == (
        "X-Amz-Content-Sha256 is not the SHA-256 of the body"
    )
    tampered_header = Call(
        call.key, {}, 1, {**call.headers, "Idempotency-Key": "job:2"}, call.path, call.body
    )
    assert "does not match" in str(sigv4_problem(tampered_header, credentials, "execute-api", "us-east-1"))
    other = Credentials("AKIDEXAMPLE", "another-secret")
    assert "does not match" in str(sigv4_problem(call, other, "execute-api", "us-east-1"))
    assert "expected us-east-1/lambda" in str(sigv4_problem(call, credentials, "lambda", "us-east-1"))
    later = datetime.now(UTC) + timedelta(minutes=6)
    assert sigv4_problem(call, credentials, "execute-api", "us-east-1", now=later) == "signature expired"


def test_each_call_is_signed_with_the_credentials_the_provider_holds_now() -> None:
    # GIVEN role credentials that rotate (each refresh hands out a new key and session token)
    numbers = itertools.count(1)

    def refresh() -> dict[str, str]:
        n = next(numbers)
        expiry = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
        return {
            "access_key": f"AKID{n}",
            "secret_key": f"secret-{n}",
            "token": f"token-{n}",
            "expiry_time": expiry,
        }

    rotating = RefreshableCredentials.create_from_metadata(refresh(), refresh, "test")
    signer = SigV4Signer(Session(rotating), "execute-api", "us-east-1")  # type: ignore[arg-type]
    # WHEN two calls are signed, THEN each carries the key and token current at its signing
    first, second = signed_call(signer), signed_call(signer)
    assert first.headers["X-Amz-Security-Token"] != second.headers["X-Amz-Security-Token"]
    for call in (first, second):
        n = call.headers["X-Amz-Security-Token"].removeprefix("token-")
        assert f"Credential=AKID{n}/" in call.headers["Authorization"]
        assert sigv4_problem(call, Credentials(f"AKID{n}", f"secret-{n}"), "execute-api", "us-east-1") is None


def test_without_credentials_or_region_the_cold_start_fails_clearly() -> None:
    with pytest.raises(ConfigError, match="no AWS credentials"):
        SigV4Signer(Session(None), "execute-api", "us-east-1")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="no region"):
        SigV4Signer(Session(Credentials("a", "b")), "execute-api", "")  # type: ignore[arg-type]


def test_the_host_header_is_what_sigv4_signs() -> None:
    assert host_header("https://API.example.com:443/x") == "api.example.com"
    assert host_header("http://127.0.0.1:8080/x") == "127.0.0.1:8080"
    assert host_header("http://[::1]:9000/x") == "[::1]:9000"
