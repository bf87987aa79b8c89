"""Local metrics are put from a thread of their own, in order, and none is lost at close."""

from __future__ import annotations

from typing import Any

import pytest

from infra.local.metrics import BackgroundSink


class RecordingSink:
    def __init__(self, fail_on: int | None = None) -> None:
        self.published: list[list[dict[str, Any]]] = []
        self._fail_on = fail_on

    def publish(self, documents: list[dict[str, Any]]) -> None:
        if documents and documents[0]["n"] == self._fail_on:
            raise RuntimeError("refused")
        self.published.append(documents)


def test_every_invocation_s_metrics_are_put_in_order_by_close() -> None:
    inner = RecordingSink()
    sink = BackgroundSink(inner)
    for n in range(50):
        sink.publish([{"n": n}])
    sink.close()
    assert [d[0]["n"] for d in inner.published] == list(range(50))


def test_a_put_that_fails_is_logged_and_the_next_ones_still_go(caplog: pytest.LogCaptureFixture) -> None:
    inner = RecordingSink(fail_on=1)
    sink = BackgroundSink(inner)
    for n in range(3):
        sink.publish([{"n": n}])
    sink.close()
    assert [d[0]["n"] for d in inner.published] == [0, 2]
    assert "could not be put" in caplog.text
