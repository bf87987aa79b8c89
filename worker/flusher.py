"""Flushes: posted rows written to the ledger while an invocation is still posting.

If an invocation dies mid-batch (a crash, a kill, the Lambda timeout), the rows recorded by the
last flush are not posted again on redelivery; only the rows of the last interval can be,
and those carry the same Idempotency-Key. The job's counters move with each flush, so
progress shows while a large batch is under way. One flush covers every message of the
invocation in one transaction, written from a thread of its own: the posting thread that finds
a flush due goes on posting. The flush also keeps the invocation's view of its ledger
items (`known`: read at its start, updated by every write), so neither the flushes nor the
settle read them again before writing (Ledger.record).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from concurrent.futures import wait as wait_for

from botocore.exceptions import BotoCoreError, ClientError

from fanout.contract import WorkMessage
from fanout.errors import FanoutError
from worker.ledger import Change, Ledger, Outcome, Settled
from worker.poster import RowResult

log = logging.getLogger("fanout.worker")

# At most one ledger write per invocation per interval: a balance between the rows a killed
# invocation would post again and writes to the job's counter item, which every worker shares.
FLUSH_INTERVAL_S = 1.0


class LedgerFlusher:
    def __init__(
        self,
        ledger: Ledger,
        interval_s: float = FLUSH_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
        recorder: Executor | None = None,
    ) -> None:
        """`recorder` runs the flushes; without one, the posting thread that finds one due does."""
        self._ledger = ledger
        self._recorder = recorder
        self.known: dict[str, Settled] = {}
        self._pending: Future[None] | None = None
        self._interval_s = interval_s
        self._clock = clock
        self._lock = threading.Lock()
        # One flush at a time: two of the same invocation would race on the same messages'
        # ledger items (seen under load: conflict retries until the transaction gave up).
        self._recording = False
        self._unrecorded: dict[str, tuple[WorkMessage, dict[int, RowResult]]] = {}
        self._last = clock()
        # What the flushes counted, for the invocation's metrics (appends: no lock needed).
        self.recorded: list[Change] = []

    def add(self, message: WorkMessage, result: RowResult) -> None:
        """Called by the posting thread as each row finishes."""
        if not result.posted:
            return
        with self._lock:
            self._unrecorded.setdefault(message.key, (message, {}))[1][result.number] = result
            due = not self._recording and self._clock() - self._last >= self._interval_s
            if due:
                self._recording = True
                batch, self._unrecorded = self._unrecorded, {}
                if self._recorder is not None:
                    # Under the lock, so `_pending` is always the latest flush.
                    self._pending = self._recorder.submit(self._record_then_release, batch)
                    return
        if due:
            self._record_then_release(batch)

    def wait(self) -> None:
        """Until the flush under way, if any, is written: settling must not race it."""
        if self._pending is not None:
            self._pending.result()

    def join(self) -> None:
        """As `wait`, leaving any error to whoever calls `wait`."""
        if self._pending is not None:
            wait_for([self._pending])

    def _record_then_release(self, batch: dict[str, tuple[WorkMessage, dict[int, RowResult]]]) -> None:
        try:
            self._record(batch)
        finally:
            with self._lock:
                self._recording = False
                self._last = self._clock()

    def _record(self, batch: dict[str, tuple[WorkMessage, dict[int, RowResult]]]) -> None:
        outcomes = [
            Outcome(m.key, m.job_id, frozenset(rows), records={n: r.record() for n, r in rows.items()})
            for m, rows in batch.values()
        ]
        try:
            self.recorded.extend(self._ledger.record(outcomes, self.known).values())
        except (FanoutError, ClientError, BotoCoreError):
            # Not lost: settling the batch records every posted row again.
            log.warning(
                "flush of %d messages failed; settling will record them", len(outcomes), exc_info=True
            )
