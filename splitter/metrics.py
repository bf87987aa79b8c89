"""The splitter's progress as metrics: published every few seconds while it runs, and at the end."""

from __future__ import annotations

import time
from collections.abc import Callable

from fanout import metrics
from fanout.metrics import MetricSet, MetricsTarget

# A long split shows on the dashboard as it goes, without a document per message batch.
PUBLISH_EVERY_S = 10.0


class SplitProgress:
    """One invocation's rows read, bytes read, messages sent and rows rejected, published as
    what changed since the last publication."""

    def __init__(self, target: MetricsTarget, clock: Callable[[], float] = time.monotonic) -> None:
        self._target = target
        self._clock = clock
        self._published_at = clock()
        self._totals = dict.fromkeys((*metrics.SPLITTER_COUNTERS, metrics.SPLITTER_BYTES), 0)
        self._published = dict(self._totals)
        self.bytes_read = 0

    def update(self, rows: int, messages: int, rejected: int) -> None:
        self._totals.update(
            {
                metrics.SPLITTER_ROWS: rows,
                metrics.SPLITTER_MESSAGES: messages,
                metrics.ROWS_REJECTED: rejected,
            }
        )
        if self._clock() - self._published_at >= PUBLISH_EVERY_S:
            self.publish()

    def publish(self) -> None:
        self._totals[metrics.SPLITTER_BYTES] = self.bytes_read
        tally = MetricSet()
        for name, total in self._totals.items():
            unit = metrics.BYTES if name == metrics.SPLITTER_BYTES else metrics.COUNT
            tally.count(name, total - self._published[name], unit)
        self._published = dict(self._totals)
        self._published_at = self._clock()
        self._target.publish(tally)
