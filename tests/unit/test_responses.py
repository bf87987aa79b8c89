import http.client
import socket
import ssl
from datetime import UTC, datetime

import pytest

from fanout.outcomes import Outcomes, Verdict
from worker.responses import (
    Classified,
    RetryPolicy,
    classify_exception,
    classify_status,
    parse_retry_after,
)


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, Verdict.SUCCESS),
        (201, Verdict.SUCCESS),
        (204, Verdict.SUCCESS),
        (429, Verdict.RETRY),
        (500, Verdict.RETRY),
        (502, Verdict.RETRY),
        (503, Verdict.RETRY),
        (400, Verdict.PERMANENT),
        (404, Verdict.PERMANENT),
        (409, Verdict.PERMANENT),
        (422, Verdict.PERMANENT),
    ],
)
def test_status_classes(status: int, verdict: Verdict) -> None:
    assert classify_status(status, {}).verdict is verdict


def test_throttles_carry_retry_after_and_other_5xx_do_not() -> None:
    assert classify_status(429, {"Retry-After": "3"}).retry_after_s == 3.0
    assert classify_status(503, {"Retry-After": "1"}).retry_after_s == 1.0
    assert classify_status(500, {"Retry-After": "3"}).retry_after_s is None


def test_retry_after_as_http_date() -> None:
    now = datetime(2026, 11, 29, 10, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Sun, 29 Nov 2026 10:00:05 GMT", now) == 5.0
    assert parse_retry_after("Sun, 29 Nov 2026 09:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


def test_transport_errors_are_retried_with_their_reason_and_a_bad_url_is_not() -> None:
    assert classify_exception(TimeoutError("timed out")) == Classified(Verdict.RETRY, "timeout: TimeoutError")
    for broken in (
        ConnectionRefusedError(),
        ConnectionResetError(),
        socket.gaierror(),
        ssl.SSLCertVerificationError(),
        http.client.RemoteDisconnected("closed"),
        http.client.IncompleteRead(b"{"),
        http.client.BadStatusLine("garbage"),
    ):
        assert classify_exception(broken) == Classified(
            Verdict.RETRY, f"connection error: {type(broken).__name__}"
        )
    assert classify_exception(http.client.InvalidURL("control character")).verdict is Verdict.PERMANENT


def test_policy_honours_retry_after_up_to_its_cap_and_backs_off_otherwise() -> None:
    policy = RetryPolicy(attempt_limit=5, base_s=0.1, cap_s=1.0, retry_after_cap_s=10.0)
    assert policy.delay(1, Classified(Verdict.RETRY, "HTTP 429", 4.0)) == 4.0
    assert policy.delay(1, Classified(Verdict.RETRY, "HTTP 429", 99.0)) == 10.0
    delays = [policy.delay(n, Classified(Verdict.RETRY, "HTTP 500")) for n in range(1, 40)]
    assert all(0.0 <= d <= 1.0 for d in delays)


def test_a_specs_outcomes_decide_and_retried_throttles_keep_retry_after() -> None:
    outcomes = Outcomes.of(["2xx", 409], [408, 429])
    assert classify_status(409, {}, outcomes).verdict is Verdict.SUCCESS
    assert classify_status(408, {}, outcomes) == Classified(Verdict.RETRY, "HTTP 408")
    assert classify_status(429, {"Retry-After": "2"}, outcomes) == Classified(
        Verdict.RETRY, "HTTP 429", 2.0, throttle=True
    )
    assert classify_status(503, {"Retry-After": "2"}, outcomes) == Classified(Verdict.PERMANENT, "HTTP 503")
