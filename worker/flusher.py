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
from dataclasses import dataclass, field

from botocore.exceptions import BotoCoreError, ClientError

from fanout.contract import WorkMessage
from fanout.errors import FanoutError
from worker.job_watch import JobWatch
from worker.ledger import Change, Ledger, Outcome, Settled
from worker.poster import RowResult

log = logging.getLogger("fanout.worker")

# At most one ledger write per invocation per interval: a balance between the rows a killed
# invocation would post again and writes to the job's counter item, which every worker shares.
FLUSH_INTERVAL_S = 1.0


@dataclass
class _Pending:
    """A message's rows finished since the last flush."""

    message: WorkMessage
    posted: dict[int, RowResult] = field(default_factory=dict)
    failing: int = 0


class LedgerFlusher:
    def __init__(
        self,
        ledger: Ledger,
        interval_s: float = FLUSH_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
        recorder: Executor | None = None,
        watch: JobWatch | None = None,
    ) -> None:
        """`recorder` runs the flushes; without one, the posting thread that finds one due does.

        `watch`, if given, reads the jobs' control again after each flush: a flush is due after
        the interval, or sooner once enough rows fail (JobWatch.failures_per_flush).
        """
        self._ledger = ledger
        self._recorder = recorder
        self._watch = watch
        self.known: dict[str, Settled] = {}
        self._pending: Future[None] | None = None
        self._interval_s = interval_s
        self._clock = clock
        self._lock = threading.Lock()
        # One flush at a time: two of the same invocation would race on the same messages'
        # ledger items (seen under load: conflict retries until the transaction gave up).
        self._recording = False
        self._unrecorded: dict[str, _Pending] = {}
        self._failing: dict[str, int] = {}  # rows failing since the last flush, by job
        self._last = clock()
        # What the flushes counted, for the invocation's metrics (appends: no lock needed).
        self.recorded: list[Change] = []

    def add(self, message: WorkMessage, result: RowResult, failing: bool = False) -> None:
        """Called by the posting thread as each row finishes; `failing`: the row ended failed."""
        with self._lock:
            if result.posted:
                self._unrecorded.setdefault(message.key, _Pending(message)).posted[result.number] = result
            elif failing:
                self._unrecorded.setdefault(message.key, _Pending(message)).failing += 1
                self._failing[message.job_id] = self._failing.get(message.job_id, 0) + 1
            due = not self._recording and (
                self._clock() - self._last >= self._interval_s or self._failing_due(message.job_id)
            )
            if due:
                self._recording = True
                batch, self._unrecorded, self._failing = self._unrecorded, {}, {}
                if self._recorder is not None:
                    # Under the lock, so `_pending` is always the latest flush.
                    self._pending = self._recorder.submit(self._record_then_release, batch)
                    return
        if due:
            self._record_then_release(batch)

    def _failing_due(self, job_id: str) -> bool:
        if self._watch is None or not self._failing.get(job_id):
            return False
        every = self._watch.failures_per_flush(job_id)
        return bool(every) and self._failing[job_id] >= every

    def take_failing(self) -> dict[str, int]:
        """Rows failing that no flush has counted yet, by message (settling counts them)."""
        with self._lock:
            failing = {key: pending.failing for key, pending in self._unrecorded.items() if pending.failing}
            for pending in self._unrecorded.values():
                pending.failing = 0
            self._failing = {}
        return failing

    def wait(self) -> None:
        """Until the flush under way, if any, is written: settling must not race it."""
        if self._pending is not None:
            self._pending.result()

    def join(self) -> None:
        """As `wait`, leaving any error to whoever calls `wait`."""
        if self._pending is not None:
            wait_for([self._pending])

    def _record_then_release(self, batch: dict[str, _Pending]) -> None:
        try:
            self._record(batch)
        finally:
            with self._lock:
                self._recording = False
                self._last = self._clock()

    def _record(self, batch: dict[str, _Pending]) -> None:
        outcomes = [
            Outcome(
                p.message.key,
                p.message.job_id,
                frozenset(p.posted),
                failing=p.failing,
                records={n: r.record() for n, r in p.posted.items()},
            )
            for p in batch.values()
        ]
        try:
            self.recorded.extend(self._ledger.record(outcomes, self.known).values())
            if self._watch is not None:
                self._watch.refresh()
        except (FanoutError, ClientError, BotoCoreError):
            # Not lost: settling the batch records every posted row again. (The rows failing it
            # carried go uncounted: only the failure threshold counts them, and it errs late.)
            log.warning(
                "flush of %d messages failed; settling will record them", len(outcomes), exc_info=True
            )
