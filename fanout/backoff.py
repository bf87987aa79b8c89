"""Capped exponential backoff with full jitter: a small pure function."""

from __future__ import annotations

import random
from collections.abc import Callable


def backoff_delay(
    attempt: int, base_s: float, cap_s: float, rand: Callable[[], float] = random.random
) -> float:
    """Delay before retry number `attempt` (1 for the first): uniform in [0, min(cap, base*2^(attempt-1))].

    Full jitter spreads retries of many workers apart (AWS Architecture Blog,
    "Exponential Backoff And Jitter").
    """
    if attempt < 1:
        return 0.0
    ceiling: float = min(cap_s, base_s * float(2 ** min(attempt - 1, 30)))
    return ceiling * rand()
