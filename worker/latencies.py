"""The API's latencies as this environment sees them: the call timeout and what a straggler is.

A call the API answers in 50 ms needs no 10-second timeout: a stalled call then holds its row
(and, at the end of a batch, the invocation) for the whole of it. The timeout follows the
answers seen instead: `TIMEOUT_PER_P99` times their 99th percentile, never below
`MIN_CALL_TIMEOUT_S` (nor the template's own, when that is lower) and never above the
template's `RequestTimeoutSeconds`, which stays the timeout until enough answers are seen.
"""

from __future__ import annotations

import threading
from collections import deque

# Answers the percentile is taken over: the last few seconds of an environment's calls.
WINDOW = 256
# Fewer answers than this tell nothing yet: the template's timeout holds.
MIN_SAMPLES = 32
TIMEOUT_PER_P99 = 4.0
# An API whose answers all come in 50 ms may still take a second now and then (a cold cache,
# a garbage collection): no call is cut before this.
MIN_CALL_TIMEOUT_S = 1.0
# A call in flight this many times the 99th percentile, while nothing else is left to do, is a
# straggler (worker/delivery.py hands its row back); never sooner than STRAGGLER_MIN_S.
STRAGGLER_PER_P99 = 3.0
STRAGGLER_MIN_S = 0.2
# The percentile is taken again after this many answers, not on every call (a sort per call
# would be a visible share of the worker's CPU per row).
RECOMPUTE_EVERY = 16


class Latencies:
    def __init__(self) -> None:
        self._seen: deque[float] = deque(maxlen=WINDOW)
        self._lock = threading.Lock()
        self._added = 0
        self._p99: float | None = None

    def add(self, seconds: float) -> None:
        with self._lock:
            self._seen.append(seconds)
            self._added += 1
            if len(self._seen) >= MIN_SAMPLES and self._added % RECOMPUTE_EVERY == 0:
                ordered = sorted(self._seen)
                self._p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]

    def p99(self) -> float | None:
        """The 99th percentile of the last answers' latencies (None: too few seen yet)."""
        return self._p99

    def call_timeout(self, ceiling_s: float) -> float:
        """The timeout for the next call; `ceiling_s`: the template's."""
        p99 = self.p99()
        if p99 is None:
            return ceiling_s
        return max(min(ceiling_s, MIN_CALL_TIMEOUT_S), min(ceiling_s, TIMEOUT_PER_P99 * p99))

    def straggler_s(self, ceiling_s: float) -> float:
        p99 = self.p99()
        if p99 is None:
            return ceiling_s
        return min(ceiling_s, max(STRAGGLER_MIN_S, STRAGGLER_PER_P99 * p99))
