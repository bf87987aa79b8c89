"""The benchmarks' loopback API in its own process, and the poster against a closed port."""

from __future__ import annotations

import json
import socket

import pytest
import requests

from fanout.contract import Row
from fanout.rendering import RequestRenderer
from fanout.request_spec import DEFAULT_REQUEST
from infra.demo.job import DemoApiProcess
from worker.api_connections import ApiConnections
from worker.poster import RowPoster
from worker.responses import RetryPolicy
from worker.throttle import AdaptiveLimiter, Budget


def test_bench_api_answers_rows_and_counts_calls_and_duplicates() -> None:
    with DemoApiProcess((0.0, 0.0), module="bench.api") as api:
        # GIVEN two posts of the same row over one keep-alive session, and one bad body
        with requests.Session() as session:
            for _ in range(2):
                ok = session.post(api.url, json={"id": "1"}, headers={"Idempotency-Key": "j:1"}, timeout=5)
                assert (ok.status_code, ok.json()) == (200, {"ok": True})
            bad = session.post(api.url, data=b"[1]", headers={"Content-Type": "application/json"}, timeout=5)
        # THEN rows and duplicates are counted, and a body that is not an object is refused
        assert bad.status_code == 400
        assert api.stats() == {
            "calls": 3,
            "connections": 2,
            "rows_accepted": 1,
            "duplicates": 1,
            "abandoned": 0,
        }


def test_an_answer_whose_client_hung_up_is_abandoned_not_a_success() -> None:
    # GIVEN the API at 0.5 s a call
    with DemoApiProcess((500.0, 500.0), module="bench.api") as api:
        # WHEN a client gives up on a call after 0.1 s, then posts the same row again and waits
        connections = ApiConnections(api.url, 0.1)
        with pytest.raises(TimeoutError):
            connections.post(b'{"id": "1"}', {"Idempotency-Key": "j:1"})
        assert ApiConnections(api.url, 5.0).post(b'{"id": "1"}', {"Idempotency-Key": "j:1"}).status == 200
        stats = api.stats()
    # THEN only the answer a client read counts: one row accepted once, one call abandoned
    assert (stats["calls"], stats["rows_accepted"], stats["duplicates"], stats["abandoned"]) == (2, 1, 0, 1)


def test_bench_api_with_a_limit_answers_429_beyond_it_and_says_when_it_admitted() -> None:
    # GIVEN the API limited to 5 calls in any sliding second
    with DemoApiProcess((0.0, 0.0), module="bench.api", args=("--limit", "window:5")) as api:
        # WHEN 8 calls arrive at once
        with requests.Session() as session:
            answers = [
                session.post(api.url, json={"id": str(n)}, headers={"Idempotency-Key": f"j:{n}"}, timeout=5)
                for n in range(8)
            ]
        stats = api.stats()
    # THEN the first 5 are admitted, the rest refused with Retry-After, and the stats say when
    assert [a.status_code for a in answers] == [200] * 5 + [429] * 3
    assert answers[-1].headers["Retry-After"] == "1"
    assert (stats["rows_accepted"], stats["refused"], len(stats["admitted_at"])) == (5, 3, 5)


def test_a_refused_connection_is_retried_then_reported_with_its_reason() -> None:
    # GIVEN an API URL nothing listens at
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    poster = RowPoster(
        ApiConnections(f"http://127.0.0.1:{port}/rows", 2.0),
        RetryPolicy(attempt_limit=2),
        AdaptiveLimiter(Budget(0, 0.0, 1, 2)),
        sleep=lambda s: None,
    )
    # WHEN a row is posted
    renderer = RequestRenderer(DEFAULT_REQUEST, ("id",), poster.endpoint)
    result = poster.post(renderer, None, "job", Row(1, ("1",)), lambda: 60.0)
    # THEN it is not posted, both attempts were made, and the reason says why
    assert not result.posted and not result.permanent
    assert result.failure is not None
    assert (result.failure["attempts"], result.failure["error"]) == (
        2,
        "connection error: ConnectionRefusedError",
    )
    assert json.dumps(result.failure)  # the DLQ body can carry it
