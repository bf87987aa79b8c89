"""The worker's poster sending what a spec renders, over real connections to loopback APIs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fanout.contract import RequestRef, Row, WorkMessage
from fanout.rendering import RequestRenderer
from fanout.request_spec import RequestSpec, parse_spec
from infra.demo.api import DemoApi, Reply
from worker.api_connections import ApiConnections
from worker.auth import HeaderCredential
from worker.poster import RowPoster
from worker.renderers import Renderers, Sending
from worker.responses import RetryPolicy
from worker.secrets import CachedCredential
from worker.throttle import AdaptiveLimiter, Budget


@pytest.fixture
def apis() -> Iterator[tuple[DemoApi, DemoApi]]:
    with DemoApi((0.0, 0.0), keep_payloads=True) as ours, DemoApi((0.0, 0.0), keep_payloads=True) as other:
        yield ours, other


def poster_for(url: str) -> RowPoster:
    return RowPoster(
        ApiConnections(url, 5.0),
        RetryPolicy(attempt_limit=2),
        AdaptiveLimiter(Budget(0, 0.0, 1, 1)),
        sleep=lambda s: None,
        auth=HeaderCredential(
            "Authorization", CachedCredential(lambda: "Bearer secret"), "the stack's secret"
        ),
    )


class Specs:
    """Stands in for the bucket's requests/: each key's spec."""

    def __init__(self, specs: dict[str, RequestSpec]) -> None:
        self._specs = specs

    def load(self, ref: RequestRef) -> RequestSpec:
        return self._specs[ref.key]


def sending_for(poster: RowPoster, spec: RequestSpec, columns: tuple[str, ...]) -> Sending:
    """What the worker sends a message's rows with, for a message whose job pinned `spec`."""
    renderers = Renderers(Specs({"requests/s.json": spec}), poster.endpoint, None, poster.auth)  # type: ignore[arg-type]
    message = WorkMessage("j", 1, columns, (), request=RequestRef("b", "requests/s.json", "v1"))
    return renderers.for_message(message)


def test_the_credential_goes_to_the_api_urls_host_only(apis: tuple[DemoApi, DemoApi]) -> None:
    ours, other = apis
    poster = poster_for(ours.url)
    relative = sending_for(poster, parse_spec({"url": "/c/{id}"}), ("id",))
    absolute = sending_for(poster, parse_spec({"url": other.url + "/c/{id}"}), ("id",))
    # WHEN one row goes to the API URL and one to another host a spec names
    assert poster.post(relative.renderer, relative.auth, "j", Row(1, ("1",)), lambda: 60.0).posted
    assert poster.post(absolute.renderer, absolute.auth, "j", Row(2, ("2",)), lambda: 60.0).posted
    # THEN only the API URL's host saw the credential
    assert ours.calls["j:1"].headers.get("Authorization") == "Bearer secret"
    assert ours.calls["j:1"].route == "/rows/c/1"
    assert "Authorization" not in other.calls["j:2"].headers
    assert other.calls["j:2"].route == "/rows/c/2"


def test_outcomes_from_the_spec_decide_success_and_retries(apis: tuple[DemoApi, DemoApi]) -> None:
    ours, _ = apis
    ours.decide = lambda call: Reply(409) if call.key == "j:1" else Reply(408)
    poster = poster_for(ours.url)
    spec = parse_spec(
        {"method": "DELETE", "url": "/c/{id}", "outcomes": {"success": ["2xx", 409], "retry": [408]}}
    )
    renderer = RequestRenderer(spec, ("id",), poster.endpoint)
    # WHEN a 409 and a 408 come back for a DELETE without a body
    conflict = poster.post(renderer, None, "j", Row(1, ("1",)), lambda: 60.0)
    timeout = poster.post(renderer, None, "j", Row(2, ("2",)), lambda: 60.0)
    # THEN the 409 counts as posted, the 408 was retried up to the attempt limit, not given up at once
    assert conflict.posted
    assert not timeout.posted and not timeout.permanent
    assert ours.attempts["j:2"] == 2
    assert timeout.failure is not None and timeout.failure["error"] == "HTTP 408"


def test_a_cell_that_cannot_be_sent_fails_its_row_without_a_call(apis: tuple[DemoApi, DemoApi]) -> None:
    ours, _ = apis
    poster = poster_for(ours.url)
    renderer = RequestRenderer(parse_spec({"columns": {"n": "integer"}}), ("n",), poster.endpoint)
    result = poster.post(renderer, None, "j", Row(1, ("x",)), lambda: 60.0)
    assert result.permanent and result.failure is not None
    assert result.failure["error"] == "not sent: column n: not an integer"
    assert ours.stats()["calls"] == 0
