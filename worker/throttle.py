"""A worker's share of the API's budget, and how it backs off when the API says "slow down".

Reserved concurrency caps invocations, not calls: 300 workers of 8 threads are 2,400 calls in
flight, and nothing in AWS caps an SQS fan-out in calls per second. Each execution environment
takes an equal share of the stack's budget (calls in flight, calls a second) from the event
source mapping's maximum concurrency, so the fleet stays within it with no shared lock. Within
its share, the limiter adapts: a 429 or 503 halves its window and rate (multiplicative
decrease), each success widens them a little (additive increase) back up to the share.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

# Additive increase: a full window of successes grows the window by one call.
INCREASE_PER_WINDOW = 1.0
# The rate never backs off below this share of its ceiling, so a throttled worker still probes.
MIN_RATE_FRACTION = 0.05
# Calls a second's worth of unused rate carry over (a token bucket): an environment catches up
# after the pause between two invocations. Every environment's burst together is one second of
# the stack's budget, which an API that allows its rate allows as a burst too (measured: without
# it, the pauses between invocations cost a quarter of the budget on one machine).
BURST_S = 1.0


@dataclass(frozen=True)
class Share:
    """One execution environment's part of the stack's budget (0 = no limit of that kind)."""

    in_flight: int
    per_second: float

    @classmethod
    def of(cls, max_in_flight: int, max_per_second: float, max_concurrency: int, threads: int) -> Share:
        in_flight = max(1, max_in_flight // max_concurrency) if max_in_flight else threads
        per_second = max_per_second / max_concurrency if max_per_second else 0.0
        return cls(min(in_flight, threads), per_second)


class Permit:
    throttled = False


class AdaptiveLimiter:
    def __init__(
        self,
        share: Share,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._ceiling = float(share.in_flight)
        self._window = float(share.in_flight)
        self._rate_ceiling = share.per_second
        self._rate = share.per_second
        self._clock = clock
        self._sleep = sleep
        self._in_flight = 0
        self._tokens = share.per_second * BURST_S
        self._refilled = clock()
        self._changed = threading.Condition()
        self.throttles = 0

    @property
    def window(self) -> float:
        return self._window

    @property
    def rate(self) -> float:
        return self._rate

    @contextmanager
    def permit(self) -> Iterator[Permit]:
        """Waits for room in the window and the next start the rate allows; set `throttled`."""
        start_at = self._acquire()
        wait = start_at - self._clock()
        if wait > 0:
            self._sleep(wait)
        permit = Permit()
        try:
            yield permit
        finally:
            self._release(permit.throttled)

    def _acquire(self) -> float:
        with self._changed:
            while self._in_flight >= max(1, math.floor(self._window)):
                self._changed.wait()
            self._in_flight += 1
            now = self._clock()
            if not self._rate:
                return now
            self._tokens = min(self._rate * BURST_S, self._tokens + (now - self._refilled) * self._rate)
            self._refilled = now
            self._tokens -= 1  # below zero: reserved, and the wait says until when
            return now if self._tokens >= 0 else now - self._tokens / self._rate

    def _release(self, throttled: bool) -> None:
        with self._changed:
            self._in_flight -= 1
            if throttled:
                self.throttles += 1
                self._window = max(1.0, self._window / 2)
                if self._rate_ceiling:
                    self._rate = max(self._rate_ceiling * MIN_RATE_FRACTION, self._rate / 2)
            else:
                self._window = min(self._ceiling, self._window + INCREASE_PER_WINDOW / self._window)
                if self._rate_ceiling:
                    step = self._rate_ceiling * INCREASE_PER_WINDOW / max(self._window, 1.0) / 10
                    self._rate = min(self._rate_ceiling, self._rate + step)
            self._changed.notify_all()
