"""An API that allows at most K calls in flight and R calls a second, and answers 429 beyond."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from infra.demo_api import Call, Reply


@dataclass
class LimitedApi:
    """A `decide` policy for DemoApi: a token bucket of R a second (burst R) and K slots."""

    max_in_flight: int
    per_second: float
    latency_s: float = 0.02
    in_flight: int = 0
    accepted: int = 0
    refused: int = 0
    _tokens: float = 0.0
    _last: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._tokens = self.per_second

    def _admit(self) -> bool:
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.per_second, self._tokens + (now - self._last) * self.per_second)
            self._last = now
            if self.in_flight >= self.max_in_flight or self._tokens < 1:
                self.refused += 1
                return False
            self._tokens -= 1
            self.in_flight += 1
            self.accepted += 1
            return True

    def __call__(self, call: Call) -> Reply:
        if not self._admit():
            return Reply(429, headers={"Retry-After": "1"}, body=b'{"error":"too many requests"}')
        time.sleep(self.latency_s)
        with self._lock:
            self.in_flight -= 1
        return Reply()
