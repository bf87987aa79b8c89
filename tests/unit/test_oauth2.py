"""OAuth2 client credentials: one token shared until shortly before it expires, renewed on a 401,
a failing endpoint retried within a limit and then retryable, a refusal permanent with its reason."""

import json
from typing import Any

import pytest
import requests

from fanout.auth_spec import OAuth2
from fanout.errors import PermanentError, RetryableError
from worker.auth import OutgoingCall
from worker.oauth2 import TOKEN_ATTEMPTS, TOKEN_TIMEOUT_S, ClientCredentialsToken
from worker.secrets import CachedCredential

SPEC = OAuth2("https://id.example.com/oauth2/token", "my client", "client-secret", scope="a b")
CALL = OutgoingCall("POST", "https://api.example.com/rows", {}, b"{}")


def answer(status: int, body: dict[str, Any]) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps(body).encode()
    return response


class TokenServer:
    """A fake `requests.post` to the token endpoint: records each request, answers from a script."""

    def __init__(self, *script: requests.Response) -> None:
        self.script = list(script)
        self.sent: list[dict[str, Any]] = []

    def __call__(self, url: str, **kwargs: Any) -> requests.Response:
        self.sent.append({"url": url, **kwargs})
        if len(self.script) > 1:
            return self.script.pop(0)
        return self.script[0]


def token(value: str, expires_in: float | None = 3600) -> requests.Response:
    body: dict[str, Any] = {"access_token": value, "token_type": "bearer"}
    if expires_in is not None:
        body["expires_in"] = expires_in
    return answer(200, body)


def client(server: TokenServer, now: list[float], spec: OAuth2 = SPEC) -> ClientCredentialsToken:
    return ClientCredentialsToken(
        spec, CachedCredential(lambda: "s3cr/t"), post=server, clock=lambda: now[0], sleep=lambda s: None
    )


def test_one_token_serves_every_call_until_shortly_before_it_expires() -> None:
    # GIVEN tokens that last 600 s
    server, now = TokenServer(token("one", 600), token("two", 600)), [0.0]
    tokens = client(server, now)
    # WHEN calls are authenticated for 540 s, THEN they share one token
    for second in range(0, 540, 10):
        now[0] = float(second)
        assert tokens.headers_for(CALL) == {"Authorization": "Bearer one"}
    assert len(server.sent) == 1
    # WHEN it is within a minute of expiring, THEN the next call fetches another
    now[0] = 540.0
    assert tokens.headers_for(CALL) == {"Authorization": "Bearer two"}
    assert len(server.sent) == 2


def test_a_short_lived_token_is_renewed_at_half_its_lifetime() -> None:
    server, now = TokenServer(token("one", 4), token("two", 4)), [0.0]
    tokens = client(server, now)
    tokens.headers_for(CALL)
    now[0] = 1.9
    assert tokens.headers_for(CALL)["Authorization"] == "Bearer one"
    now[0] = 2.0
    assert tokens.headers_for(CALL)["Authorization"] == "Bearer two"


def test_the_grant_is_a_form_post_with_basic_client_authentication_a_timeout_and_no_redirects() -> None:
    server = TokenServer(token("one"))
    client(server, [0.0]).headers_for(CALL)
    (sent,) = server.sent
    assert sent["url"] == SPEC.token_url
    assert sent["data"] == {"grant_type": "client_credentials", "scope": "a b"}
    # RFC 6749 2.3.1: form-encoded, then Basic
    assert sent["auth"] == ("my+client", "s3cr%2Ft")
    assert sent["timeout"] == TOKEN_TIMEOUT_S
    assert sent["allow_redirects"] is False
    body_auth = TokenServer(token("one"))
    client(body_auth, [0.0], OAuth2(SPEC.token_url, "c", "s", client_auth="body")).headers_for(CALL)
    assert body_auth.sent[0]["auth"] is None
    assert body_auth.sent[0]["data"] == {
        "grant_type": "client_credentials",
        "client_id": "c",
        "client_secret": "s3cr/t",
    }


def test_after_a_401_the_token_is_fetched_again_once_for_all_threads() -> None:
    server, now = TokenServer(token("one"), token("two"), token("three")), [0.0]
    tokens = client(server, now)
    refused = dict(tokens.headers_for(CALL))
    # WHEN two calls sent with the old token are refused
    assert tokens.renew(refused) is True
    assert tokens.renew(refused) is True  # the second finds it renewed already
    # THEN one new token was fetched and is used
    assert tokens.headers_for(CALL) == {"Authorization": "Bearer two"}
    assert len(server.sent) == 2
    assert "freshly fetched" in tokens.refusal(401, renewed=True)


def test_a_failing_endpoint_is_tried_a_limited_number_of_times_then_retryable_and_held_briefly() -> None:
    server, now = TokenServer(answer(503, {}), answer(503, {}), answer(503, {}), token("one")), [0.0]
    tokens = client(server, now)
    with pytest.raises(
        RetryableError, match=r"token endpoint https://id\.example\.com/oauth2/token: HTTP 503"
    ):
        tokens.headers_for(CALL)
    assert len(server.sent) == TOKEN_ATTEMPTS
    # WHEN other calls come within the hold, THEN they fail alike without calling the endpoint
    with pytest.raises(RetryableError):
        tokens.headers_for(CALL)
    assert len(server.sent) == TOKEN_ATTEMPTS
    # WHEN the hold is over, THEN the endpoint is asked again
    now[0] = 2.0
    assert tokens.headers_for(CALL) == {"Authorization": "Bearer one"}


def test_a_timeout_is_retryable_and_says_so() -> None:
    def times_out(url: str, **kwargs: Any) -> requests.Response:
        raise requests.ReadTimeout("read timed out")

    tokens = ClientCredentialsToken(SPEC, CachedCredential(lambda: "s"), post=times_out, sleep=lambda s: None)
    with pytest.raises(RetryableError, match="ReadTimeout"):
        tokens.headers_for(CALL)


def test_refused_client_credentials_are_permanent_with_the_endpoint_s_reason_and_never_the_secret() -> None:
    refusal = answer(401, {"error": "invalid_client", "error_description": "client authentication failed"})
    server = TokenServer(refusal)
    tokens = client(server, [0.0])
    with pytest.raises(PermanentError) as raised:
        tokens.headers_for(CALL)
    assert str(raised.value) == (
        "OAuth2 token endpoint https://id.example.com/oauth2/token refused client my client: "
        "HTTP 401 invalid_client: client authentication failed"
    )
    assert "s3cr" not in str(raised.value)
    assert len(server.sent) == 1  # a refusal is not retried


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"token_type": "Bearer"}, "without an access_token"),
        ({"access_token": "x", "token_type": "mac"}, "only Bearer tokens"),
    ],
)
def test_an_answer_without_a_usable_token_is_permanent(body: dict[str, Any], message: str) -> None:
    with pytest.raises(PermanentError, match=message):
        client(TokenServer(answer(200, body)), [0.0]).headers_for(CALL)


def test_a_token_without_expires_in_is_kept_until_a_401() -> None:
    server, now = TokenServer(token("one", None), token("two")), [0.0]
    tokens = client(server, now)
    tokens.headers_for(CALL)
    now[0] = 1e9
    assert tokens.headers_for(CALL)["Authorization"] == "Bearer one"
    tokens.renew({"Authorization": "Bearer one"})
    assert tokens.headers_for(CALL)["Authorization"] == "Bearer two"
