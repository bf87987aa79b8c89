"""A `decide` policy for the demo API: an API that allows at most K calls in flight and R calls
a second (a token bucket with a burst of R), and answers 429 with Retry-After beyond them.

Used by the budget tests and `bench/budget.py`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from infra.demo.api import Call, Reply


@dataclass
class LimitedApi:
    per_second: float
    max_in_flight: int = 0  # 0: no limit on calls in flight
    latency_s: float = 0.0  # time an admitted call holds its slot
    in_flight: int = 0
    refused: int = 0
    accepted_at: list[float] = field(default_factory=list)
    _tokens: float = 0.0
    _last: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._tokens = self.per_second

    @property
    def accepted(self) -> int:
        return len(self.accepted_at)

    def _admit(self) -> bool:
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.per_second, self._tokens + (now - self._last) * self.per_second)
            self._last = now
            if (self.max_in_flight and self.in_flight >= self.max_in_flight) or self._tokens < 1:
                self.refused += 1
                return False
            self._tokens -= 1
            self.in_flight += 1
            self.accepted_at.append(now)
            return True

    def __call__(self, call: Call) -> Reply:
        if not self._admit():
            return Reply(429, headers={"Retry-After": "1"}, body=b'{"error":"too many requests"}')
        time.sleep(self.latency_s)
        with self._lock:
            self.in_flight -= 1
        return Reply()
