"""One invocation's rows in flight: their attempts on the posting threads, their waits off them,
and the stragglers handed back so a stalled call does not hold the invocation.

A row waiting for its next try (a backoff, a Retry-After) holds no posting thread: a timer puts
it back in the pool when it is due. Once nothing is left to do but calls far slower than the
others (worker/latencies.py) and tries that are not due soon, the rows left are handed back:
their calls are ended (so none can succeed unseen), and the rows stay open for the message's
next delivery, which posts them with the same Idempotency-Key (the ledger skips the rest). On
a message's last delivery nothing is handed back: there would be no next one.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from worker.poster import RowPoster, RowResult, RowTries
from worker.posting_threads import PostingThreads

# How often the settling thread looks for stragglers while rows are in flight (it is woken early
# only by the last row: a wake-up per row would contend for the interpreter with the posting
# threads, measured in bench/ as CPU per row).
LOOK_EVERY_S = 0.05


class Timer:
    """Runs actions when they are due, on one thread of its own (started on first use)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._due: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def at(self, due: float, action: Callable[[], None]) -> None:
        with self._changed:
            heapq.heappush(self._due, (due, next(self._order), action))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="retry-timer", daemon=True)
                self._thread.start()
            self._changed.notify()

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._due or self._due[0][0] > self._clock():
                    self._changed.wait(self._due[0][0] - self._clock() if self._due else None)
                _, _, action = heapq.heappop(self._due)
            action()


class Settlement:
    """A row's result, there once it is settled or handed back (read it after Delivery.wait). A
    slot under the delivery's lock rather than a Future: a Future per row (its Condition and
    RLock) was 4 % of a worker's on-CPU samples at C = 64 (bench/README.md)."""

    __slots__ = ("_result",)

    def __init__(self, result: RowResult | None = None) -> None:
        self._result = result

    def result(self) -> RowResult:
        if self._result is None:
            raise RuntimeError("the row is not settled yet: its result is read after Delivery.wait")
        return self._result

    def _settle(self, result: RowResult) -> None:
        self._result = result


@dataclass(eq=False)
class _Row:
    tries: RowTries
    time_left: Callable[[], float]
    settled: Callable[[RowResult], None]
    final: bool  # its message's last delivery: never handed back
    settlement: Settlement = field(default_factory=Settlement)
    calling_since: float | None = None  # its call's start, while one is in flight
    thread: int | None = None
    due: float | None = None  # while it waits for its next try
    done: bool = False


class Delivery:
    def __init__(
        self,
        pool: PostingThreads,
        poster: RowPoster,
        timer: Timer,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pool = pool
        self._poster = poster
        self._timer = timer
        self._clock = clock
        # Rows not yet settled or handed back, in the order added (a dict as an ordered set): the
        # settling thread's look for stragglers stops at the first row that is none, rather than
        # walking every row of the batch each LOOK_EVERY_S (2 % of a worker's samples at C = 64).
        self._open: dict[_Row, None] = {}
        self._changed = threading.Condition()
        self.handed_back = 0  # rows handed back, for the invocation's log

    def add(
        self,
        tries: RowTries,
        time_left: Callable[[], float],
        settled: Callable[[RowResult], None],
        final: bool,
    ) -> Settlement:
        """Posts the row; `settled` is told its result once, from the thread that settles it."""
        row = _Row(tries, time_left, settled, final)
        with self._changed:
            self._open[row] = None
        self._pool.submit(self._attempt, row)
        return row.settlement

    def wait(self) -> None:
        """Until every row is settled or handed back."""
        with self._changed:
            while True:
                if not self._open:
                    return
                if self._only_stragglers(self._open):
                    break
                self._changed.wait(LOOK_EVERY_S)
            open_rows = list(self._open)
            self._open.clear()
            for row in open_rows:
                row.done = True
                if row.thread is not None and row.calling_since is not None:
                    self._poster.abort(row.thread)
            for row in open_rows:
                row.settlement._settle(row.tries.handed_back())
            self.handed_back += len(open_rows)

    def _only_stragglers(self, open_rows: Iterable[_Row]) -> bool:
        """Every open row is a call far slower than the others or a try not due soon (and none
        is on its message's last delivery)."""
        now = self._clock()
        slow_s = self._poster.straggler_s
        for row in open_rows:
            if row.final:
                return False
            if row.due is not None:
                if row.due - now < slow_s:
                    return False
            elif row.calling_since is None or now - row.calling_since < slow_s:
                return False  # waiting for a thread or a permit, or a call not yet overdue
        return True

    def _resubmit(self, row: _Row) -> None:
        self._pool.submit(self._attempt, row)

    def _attempt(self, row: _Row) -> None:
        with self._changed:
            if row.done:
                return
            row.due, row.thread = None, threading.get_ident()

        def calling() -> None:
            with self._changed:
                row.calling_since = self._clock()

        outcome = self._poster.attempt(row.tries, row.time_left, calling)
        with self._changed:
            row.calling_since = row.thread = None
            if row.done:
                return  # handed back meanwhile: its call was ended, its outcome is no one's
            if not isinstance(outcome, RowResult):
                row.due = self._clock() + outcome
                self._timer.at(row.due, lambda: self._resubmit(row))
                return
        # Told before the row counts as done, so settling finds it in the ledger flush; meanwhile
        # it is no straggler (no call, no wait), so it cannot be handed back.
        row.settled(outcome)
        with self._changed:
            # Under the lock that wait() reads the open rows with: once it returns, every
            # row's result is there.
            row.settlement._settle(outcome)
            row.done = True
            del self._open[row]
            if not self._open:
                self._changed.notify_all()
