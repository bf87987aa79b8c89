"""The worker's poster with each kind of auth, against loopback APIs that check credentials as the
real services do, with the secrets in the emulator's Secrets Manager."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
from botocore.credentials import Credentials

from fanout.auth_spec import AuthSpec, Header, OAuth2, SigV4
from fanout.contract import Row
from fanout.rendering import RequestRenderer
from fanout.request_spec import DEFAULT_REQUEST
from infra.demo.api import DemoApi
from infra.local.endpoint import EMULATOR_CREDENTIALS
from infra.local.stack import LOCAL_REGION, LOCAL_STACK_NAME
from tests.auth_apis import ApiKeyCheck, SigV4Check, TokenEndpoint
from worker.api_connections import ApiConnections
from worker.authenticators import Authenticators
from worker.poster import RowPoster, RowResult
from worker.responses import RetryPolicy
from worker.secrets import SecretStore
from worker.throttle import AdaptiveLimiter, Budget

PREFIX = f"{LOCAL_STACK_NAME}/"
COLUMNS = ("id", "name")
API_KEY = "key-9f2c61d0"
CLIENT_SECRET = "client-secret-7d41"


@pytest.fixture
def api() -> Iterator[DemoApi]:
    with DemoApi(latency_s=(0.002, 0.004), keep_payloads=True) as running:
        yield running


SECRET_VALUES = (API_KEY, CLIENT_SECRET, "wrong-key-0000", "not-the-secret")


@pytest.fixture(autouse=True)
def no_secret_in_any_log_line(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every test here: the project's log lines, at DEBUG, hold no secret value and no token."""
    caplog.set_level(logging.DEBUG, logger="fanout")
    yield
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("fanout"))
    for value in (*SECRET_VALUES, *TokenEndpoint.every_token_issued()):
        assert value not in logged


def put_secret(session: boto3.Session, name: str, value: str) -> None:
    session.client("secretsmanager").create_secret(Name=PREFIX + name, SecretString=value)


def poster_for(session: boto3.Session, api: DemoApi, spec: AuthSpec) -> RowPoster:
    secrets = SecretStore(session.client("secretsmanager"), PREFIX)
    auth = Authenticators(session, secrets, LOCAL_REGION).for_spec(spec, api.url)
    return RowPoster(
        ApiConnections(api.url, 5.0),
        RetryPolicy(attempt_limit=3, base_s=0.01),
        AdaptiveLimiter(Budget(0, 0.0, 1, 8)),
        auth=auth,
    )


def post_rows(poster: RowPoster, rows: int) -> list[RowResult]:
    renderer = RequestRenderer(DEFAULT_REQUEST, COLUMNS, poster.endpoint)

    def post(n: int) -> RowResult:
        return poster.post(renderer, poster.auth, "job", Row(n, (str(n), f"row {n}")), lambda: 60.0)

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(post, range(1, rows + 1)))


def failures(results: list[RowResult]) -> list[str]:
    return [r.failure["error"] for r in results if r.failure is not None]


def test_sigv4_calls_verify_with_the_credentials_the_local_stack_uses(
    session: boto3.Session, api: DemoApi
) -> None:
    # GIVEN an API that checks SigV4 signatures as API Gateway's IAM auth does
    check = api.decide = SigV4Check(
        Credentials(EMULATOR_CREDENTIALS["AWS_ACCESS_KEY_ID"], EMULATOR_CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
    )
    # WHEN rows are posted signed with the worker's credentials
    results = post_rows(poster_for(session, api, SigV4("execute-api", "us-east-1")), 60)
    # THEN every call verified
    assert failures(results) == [] and check.refusals == []
    assert check.accepted == 60 and len(api.successes) == 60


def test_a_signature_for_another_region_is_refused_with_the_reason(
    session: boto3.Session, api: DemoApi
) -> None:
    api.decide = SigV4Check(Credentials("fanout-local", "fanout-local"), region="eu-west-1")
    results = post_rows(poster_for(session, api, SigV4("execute-api", "us-east-1")), 3)
    assert all(r.permanent for r in results)
    (reason,) = set(failures(results))
    assert reason.startswith(
        "HTTP 403: the API refused the SigV4 signature (service execute-api, region us-east-1)"
    )


def test_an_api_key_from_the_stack_s_secret_goes_in_the_named_header(
    session: boto3.Session, api: DemoApi
) -> None:
    put_secret(session, "api-key", API_KEY)
    check = api.decide = ApiKeyCheck("x-api-key", API_KEY)
    results = post_rows(poster_for(session, api, Header("api-key", "x-api-key")), 40)
    assert failures(results) == [] and check.accepted == 40


def test_a_wrong_api_key_fails_rows_permanently_with_a_reason_that_names_the_secret_not_its_value(
    session: boto3.Session, api: DemoApi
) -> None:
    put_secret(session, "api-key", "wrong-key-0000")
    api.decide = ApiKeyCheck("x-api-key", API_KEY)
    results = post_rows(poster_for(session, api, Header("api-key", "x-api-key")), 5)
    assert all(r.permanent for r in results)
    (reason,) = set(failures(results))
    assert reason == f"HTTP 401: the API refused the x-api-key header from secret {PREFIX}api-key"
    assert "wrong-key-0000" not in json.dumps([r.failure for r in results])


def test_oauth2_tokens_that_expire_in_a_second_are_renewed_before_any_call_is_refused(
    session: boto3.Session, api: DemoApi
) -> None:
    # GIVEN a token endpoint whose tokens last one second, and an API that accepts only live ones
    put_secret(session, "oauth-client", CLIENT_SECRET)
    with TokenEndpoint("fanout", CLIENT_SECRET, lifetime_s=1.0, scope="rows:write") as endpoint:
        api.decide = endpoint
        poster = poster_for(session, api, OAuth2(endpoint.url, "fanout", "oauth-client", scope="rows:write"))
        # WHEN rows are posted for several token lifetimes (a bounded number of rounds)
        results: list[RowResult] = []
        while endpoint.issued < 4 and len(results) < 20_000:
            results += post_rows(poster, 50)
    # THEN every row was posted, on four tokens, and no call was refused
    assert endpoint.issued >= 4
    assert failures(results) == []
    assert len(api.successes) == 50 and sum(api.attempts.values()) == len(results)
    assert endpoint.check.refusals == []


def test_a_revoked_token_is_fetched_again_once_and_the_call_retried(
    session: boto3.Session, api: DemoApi
) -> None:
    put_secret(session, "oauth-client", CLIENT_SECRET)
    with TokenEndpoint("fanout", CLIENT_SECRET, lifetime_s=3600) as endpoint:
        api.decide = endpoint
        poster = poster_for(session, api, OAuth2(endpoint.url, "fanout", "oauth-client"))
        assert failures(post_rows(poster, 1)) == []
        endpoint.revoke_all()
        # WHEN the API refuses the token the worker holds
        results = post_rows(poster, 20)
    # THEN one new token was fetched, and every call went through on it
    assert failures(results) == []
    assert endpoint.issued == 2
    assert len(endpoint.check.refusals) >= 1


def test_a_401_after_a_fresh_token_is_permanent_with_that_reason(
    session: boto3.Session, api: DemoApi
) -> None:
    put_secret(session, "oauth-client", CLIENT_SECRET)
    with TokenEndpoint("fanout", CLIENT_SECRET, lifetime_s=3600) as endpoint:
        api.decide = ApiKeyCheck("x-api-key", API_KEY)  # no token will do
        results = post_rows(poster_for(session, api, OAuth2(endpoint.url, "fanout", "oauth-client")), 1)
    (result,) = results
    assert result.permanent and result.failure is not None
    assert result.failure["error"] == (
        f"HTTP 401: the API refused a freshly fetched OAuth2 token from {endpoint.url} (client fanout)"
    )
    assert endpoint.issued == 2


def test_a_wrong_client_secret_fails_rows_permanently_with_the_endpoint_s_reason(
    session: boto3.Session, api: DemoApi
) -> None:
    put_secret(session, "oauth-client", "not-the-secret")
    with TokenEndpoint("fanout", CLIENT_SECRET, lifetime_s=3600) as endpoint:
        api.decide = endpoint
        results = post_rows(poster_for(session, api, OAuth2(endpoint.url, "fanout", "oauth-client")), 30)
        asked = endpoint.requests
    assert all(r.permanent for r in results)
    (reason,) = set(failures(results))
    assert reason == (
        f"auth: OAuth2 token endpoint {endpoint.url} refused client fanout: "
        "HTTP 401 invalid_client: client authentication failed"
    )
    assert asked == 1  # the refusal is held: 30 rows did not ask 30 times
    assert api.attempts == {}  # no call went to the API without a token


def test_a_token_endpoint_that_is_down_for_a_moment_costs_no_row(
    session: boto3.Session, api: DemoApi
) -> None:
    put_secret(session, "oauth-client", CLIENT_SECRET)
    with TokenEndpoint("fanout", CLIENT_SECRET, lifetime_s=3600) as endpoint:
        endpoint.failing = 2  # fewer than a fetch's attempts
        api.decide = endpoint
        results = post_rows(poster_for(session, api, OAuth2(endpoint.url, "fanout", "oauth-client")), 10)
    assert failures(results) == []
    assert endpoint.requests == 3
