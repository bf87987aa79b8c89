"""The worker's poster sending what a spec renders, over real connections to loopback APIs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fanout.contract import Row
from fanout.rendering import RequestRenderer
from fanout.request_spec import parse_spec
from infra.demo.api import DemoApi, Reply
from worker.api_connections import ApiConnections
from worker.poster import RowPoster
from worker.responses import RetryPolicy
from worker.throttle import AdaptiveLimiter, Share


@pytest.fixture
def apis() -> Iterator[tuple[DemoApi, DemoApi]]:
    with DemoApi((0.0, 0.0), keep_payloads=True) as ours, DemoApi((0.0, 0.0), keep_payloads=True) as other:
        yield ours, other


def poster_for(url: str) -> RowPoster:
    return RowPoster(
        ApiConnections(url, 5.0),
        RetryPolicy(attempt_limit=2),
        AdaptiveLimiter(Share.of(0, 0.0, 1, 1)),
        sleep=lambda s: None,
        authorization=lambda: "Bearer secret",
    )


def test_the_credential_goes_to_the_api_urls_host_only(apis: tuple[DemoApi, DemoApi]) -> None:
    ours, other = apis
    poster = poster_for(ours.url)
    relative = RequestRenderer(parse_spec({"url": "/c/{id}"}), ("id",), poster.endpoint)
    absolute = RequestRenderer(parse_spec({"url": other.url + "/c/{id}"}), ("id",), poster.endpoint)
    # WHEN one row goes to the API URL and one to another host a spec names
    assert poster.post(relative, "j", Row(1, ("1",)), lambda: 60.0).posted
    assert poster.post(absolute, "j", Row(2, ("2",)), lambda: 60.0).posted
    # THEN only the API URL's host saw the credential
    assert ours.calls["j:1"].headers.get("Authorization") == "Bearer secret"
    assert ours.calls["j:1"].path == "/rows/c/1"
    assert "Authorization" not in other.calls["j:2"].headers
    assert other.calls["j:2"].path == "/rows/c/2"


def test_outcomes_from_the_spec_decide_success_and_retries(apis: tuple[DemoApi, DemoApi]) -> None:
    ours, _ = apis
    ours.decide = lambda call: Reply(409) if call.key == "j:1" else Reply(408)
    poster = poster_for(ours.url)
    spec = parse_spec(
        {"method": "DELETE", "url": "/c/{id}", "outcomes": {"success": ["2xx", 409], "retry": [408]}}
    )
    renderer = RequestRenderer(spec, ("id",), poster.endpoint)
    # WHEN a 409 and a 408 come back for a DELETE without a body
    conflict = poster.post(renderer, "j", Row(1, ("1",)), lambda: 60.0)
    timeout = poster.post(renderer, "j", Row(2, ("2",)), lambda: 60.0)
    # THEN the 409 counts as posted, the 408 was retried up to the attempt limit, not given up at once
    assert conflict.posted
    assert not timeout.posted and not timeout.permanent
    assert ours.attempts["j:2"] == 2
    assert timeout.failure is not None and timeout.failure["error"] == "HTTP 408"


def test_a_cell_that_cannot_be_sent_fails_its_row_without_a_call(apis: tuple[DemoApi, DemoApi]) -> None:
    ours, _ = apis
    poster = poster_for(ours.url)
    renderer = RequestRenderer(parse_spec({"columns": {"n": "integer"}}), ("n",), poster.endpoint)
    result = poster.post(renderer, "j", Row(1, ("x",)), lambda: 60.0)
    assert result.permanent and result.failure is not None
    assert result.failure["error"] == "not sent: column n: not an integer"
    assert ours.stats()["calls"] == 0
