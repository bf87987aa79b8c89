"""Time left in a Lambda invocation, from its context object."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def time_left(context: Any, without_context_s: float) -> Callable[[], float]:
    """Seconds left, read from Lambda's context; without one (a direct call), `without_context_s`
    from now."""
    if context is not None and hasattr(context, "get_remaining_time_in_millis"):
        return lambda: float(context.get_remaining_time_in_millis()) / 1000.0
    start = time.monotonic()
    return lambda: without_context_s - (time.monotonic() - start)
