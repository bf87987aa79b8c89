"""The API calls of one invocation, kept cheaply on the hot path and summed up once at its end."""

from __future__ import annotations

import time
from collections import Counter

from fanout import metrics
from fanout.metrics import MetricSet


class CallLog:
    """Status (None: timeout or connection error), latency and attempt number of every call.

    Threads only append (atomic in CPython), so recording takes no lock; the worker drains the
    log after every row of the invocation has returned.
    """

    def __init__(self) -> None:
        self._calls: list[tuple[int | None, float, int]] = []

    def record(self, status: int | None, started: float, attempt: int) -> None:
        self._calls.append((status, time.perf_counter() - started, attempt))

    def drain(self) -> list[tuple[int | None, float, int]]:
        calls, self._calls = self._calls, []
        return calls


def status_metric(status: int | None) -> str:
    if status is None:
        return metrics.API_ERRORS
    if status == 429:
        return metrics.API_429
    if 200 <= status < 300:
        return metrics.API_2XX
    return metrics.API_5XX if status >= 500 else metrics.API_4XX


def add_calls(into: MetricSet, calls: list[tuple[int | None, float, int]]) -> None:
    """Counts by status class (all of them, zeros too), retries, and the latencies in ms."""
    by_class = Counter(status_metric(status) for status, _, _ in calls)
    for name in (metrics.API_2XX, metrics.API_4XX, metrics.API_429, metrics.API_5XX, metrics.API_ERRORS):
        into.count(name, by_class[name])
    into.count(metrics.ROWS_RETRIED, sum(1 for _, _, attempt in calls if attempt > 1))
    into.sample(metrics.API_LATENCY, [round(seconds * 1000.0, 3) for _, seconds, _ in calls])
