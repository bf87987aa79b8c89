"""What an API response or a transport error means for a row: success, retry, or give up.

Pure functions, no I/O. Which statuses succeed, retry or fail is the request spec's `outcomes`
(fanout/outcomes.py, today's rules by default); how long to wait and what a transport error
means is here.
"""

from __future__ import annotations

import http.client
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Protocol

from fanout.backoff import backoff_delay
from fanout.outcomes import DEFAULT_OUTCOMES, Outcomes, Verdict

# Statuses that mean "slow down" and may say for how long with Retry-After (RFC 9110 10.2.3).
THROTTLE_STATUSES = frozenset({429, 503})


@dataclass(frozen=True)
class Classified:
    verdict: Verdict
    reason: str
    retry_after_s: float | None = None
    throttle: bool = False  # the API asked us to slow down (429, 503)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date; None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class Headers(Protocol):
    """A response's headers, looked up by name (a dict, or http.client's, case-insensitive)."""

    def get(self, name: str, /) -> str | None: ...


def classify_status(status: int, headers: Headers, outcomes: Outcomes = DEFAULT_OUTCOMES) -> Classified:
    """The request spec's outcome rules decide; a retried 429 or 503 also honours Retry-After."""
    verdict = outcomes.verdict(status)
    if verdict is Verdict.RETRY and status in THROTTLE_STATUSES:
        return Classified(
            Verdict.RETRY, f"HTTP {status}", parse_retry_after(headers.get("Retry-After")), throttle=True
        )
    return Classified(verdict, f"HTTP {status}")


def classify_exception(exc: OSError | http.client.HTTPException) -> Classified:
    """Timeouts and broken or refused connections may heal; a request we cannot even form will not."""
    if isinstance(exc, TimeoutError):
        return Classified(Verdict.RETRY, f"timeout: {type(exc).__name__}")
    if isinstance(exc, http.client.InvalidURL):
        return Classified(Verdict.PERMANENT, f"request error: {type(exc).__name__}: {exc}")
    # Refused, reset or closed connections, names that do not resolve, TLS failures, answers cut
    # short or not HTTP: the same call may get through on another connection.
    return Classified(Verdict.RETRY, f"connection error: {type(exc).__name__}")


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts per row in one delivery of a message, and the waits between them."""

    attempt_limit: int
    base_s: float = 0.1
    cap_s: float = 5.0
    # A server asking for a longer pause than this is retried on a later delivery instead.
    retry_after_cap_s: float = 30.0

    def delay(self, attempt: int, classified: Classified) -> float:
        """Seconds to wait before the next attempt after `attempt` attempts have been made."""
        if classified.retry_after_s is not None:
            return min(classified.retry_after_s, self.retry_after_cap_s)
        return backoff_delay(attempt, self.base_s, self.cap_s)
