from datetime import UTC, datetime

import pytest
import requests
import urllib3

from worker.responses import (
    Classified,
    RetryPolicy,
    Verdict,
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


def test_transport_errors() -> None:
    assert classify_exception(requests.ConnectTimeout()).verdict is Verdict.RETRY
    assert classify_exception(requests.ReadTimeout()).verdict is Verdict.RETRY
    assert classify_exception(requests.ConnectionError()).verdict is Verdict.RETRY
    assert classify_exception(requests.exceptions.InvalidURL("x")).verdict is Verdict.PERMANENT


def test_errors_of_the_urllib3_transport_the_worker_posts_through() -> None:
    # GIVEN the errors urllib3 raises with its own retries turned off
    refused = urllib3.exceptions.NewConnectionError(None, "Connection refused")  # type: ignore[arg-type]
    read_timeout = urllib3.exceptions.ReadTimeoutError(None, "/rows", "Read timed out")  # type: ignore[arg-type]
    reset = urllib3.exceptions.ProtocolError("Connection aborted", ConnectionResetError())
    bad_url = urllib3.exceptions.LocationParseError("http://[x")
    # THEN refused and reset connections and timeouts are retried, with the right reason
    assert classify_exception(refused) == Classified(Verdict.RETRY, "connection error: NewConnectionError")
    assert classify_exception(read_timeout) == Classified(Verdict.RETRY, "timeout: ReadTimeoutError")
    assert classify_exception(reset).verdict is Verdict.RETRY
    # AND a request that cannot be formed is not
    assert classify_exception(bad_url).verdict is Verdict.PERMANENT


def test_policy_honours_retry_after_up_to_its_cap_and_backs_off_otherwise() -> None:
    policy = RetryPolicy(attempt_limit=5, base_s=0.1, cap_s=1.0, retry_after_cap_s=10.0)
    assert policy.delay(1, Classified(Verdict.RETRY, "HTTP 429", 4.0)) == 4.0
    assert policy.delay(1, Classified(Verdict.RETRY, "HTTP 429", 99.0)) == 10.0
    delays = [policy.delay(n, Classified(Verdict.RETRY, "HTTP 500")) for n in range(1, 40)]
    assert all(0.0 <= d <= 1.0 for d in delays)
