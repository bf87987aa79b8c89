"""APIs that allow R calls a second and answer 429 with Retry-After beyond, as the two kinds of
limiter real APIs have:

- a token bucket of R a second with a burst of R (`TokenBucket`);
- at most R calls in any sliding one-second window (`SlidingWindow`: a burst of R is followed
  by a second of nothing).

`LimitedApi` is a `decide` policy for the demo API (the budget tests); bench/api.py's `--limit`
puts the same limiters in front of the benchmarks' API.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from infra.demo.api import Call, Reply

WINDOW_S = 1.0
RETRY_AFTER_S = "1"
TOO_MANY = Reply(429, headers={"Retry-After": RETRY_AFTER_S}, body=b'{"error":"too many requests"}')


class Limiter(Protocol):
    def admit(self, now: float) -> bool: ...


class TokenBucket:
    def __init__(self, per_second: float) -> None:
        self._rate = per_second
        self._tokens = per_second
        self._last: float | None = None

    def admit(self, now: float) -> bool:
        if self._last is not None:
            self._tokens = min(self._rate, self._tokens + (now - self._last) * self._rate)
        self._last = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


class SlidingWindow:
    def __init__(self, per_second: float) -> None:
        self._limit = per_second
        self._window: deque[float] = deque()

    def admit(self, now: float) -> bool:
        while self._window and self._window[0] <= now - WINDOW_S:
            self._window.popleft()
        if len(self._window) >= self._limit:
            return False
        self._window.append(now)
        return True


LIMITERS: dict[str, Callable[[float], Limiter]] = {"bucket": TokenBucket, "window": SlidingWindow}


def limiter(kind: str, per_second: float) -> Limiter:
    """`bucket` or `window`, of `per_second` calls."""
    return LIMITERS[kind](per_second)


@dataclass
class LimitedApi:
    """A token bucket (or `kind="window"`) of R a second, at most K calls in flight."""

    per_second: float
    max_in_flight: int = 0  # 0: no limit on calls in flight
    latency_s: float = 0.0  # time an admitted call holds its slot
    kind: str = "bucket"
    in_flight: int = 0
    refused: int = 0
    accepted_at: list[float] = field(default_factory=list)
    _limiter: Limiter | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def accepted(self) -> int:
        return len(self.accepted_at)

    def _admit(self) -> bool:
        with self._lock:
            if self._limiter is None:
                self._limiter = limiter(self.kind, self.per_second)
            now = time.monotonic()
            if (self.max_in_flight and self.in_flight >= self.max_in_flight) or not self._limiter.admit(now):
                self.refused += 1
                return False
            self.in_flight += 1
            self.accepted_at.append(now)
            return True

    def __call__(self, call: Call) -> Reply:
        if not self._admit():
            return TOO_MANY
        time.sleep(self.latency_s)
        with self._lock:
            self.in_flight -= 1
        return Reply()
