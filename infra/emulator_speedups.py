"""Where moto's server spends its CPU on work that answers nothing, and the shortcuts.

On one machine the emulator shares the CPU with the workers it serves, so CPU it wastes is
throughput the workers lose. Each shortcut keeps moto's answers exactly as they were; only the
cost changes. Found with py-spy on the emulator during a budgeted 400 calls/s run (bench/README.md):
the emulator used 88% of a core, and most of it went to the three places below.
"""

from __future__ import annotations

import datetime
import functools
import logging
import time
from collections.abc import Callable

# The distinct update expressions kept parsed (Fanout writes a handful; others may come and go).
UPDATE_EXPRESSIONS_KEPT = 256


def apply_speedups() -> None:
    _sqs_clock_without_datetime()
    _moto_modules_listed_once()
    _request_log_off()
    _update_expressions_parsed_once()
    _retention_period_read_directly()


def _sqs_clock_without_datetime() -> None:
    """SQS checks each message's visibility and delay against the clock on every receive and
    every attribute read (three passes over the queue for ApproximateNumberOf*), and moto reads
    the clock as `utcnow() - utcfromtimestamp(0)` through datetime objects: 25% of the samples.
    "Now" in seconds since the epoch is `time.time()`; a given datetime still goes the long way.
    """
    from moto.sqs import models

    def fast(original: Callable[..., float], scale: float) -> Callable[..., float]:
        @functools.wraps(original)
        def now_or_given(dt: datetime.datetime | None = None) -> float:
            return time.time() * scale if dt is None else original(dt)

        return now_or_given

    for name, scale in (("unix_time", 1.0), ("unix_time_millis", 1000.0)):
        setattr(models, name, fast(getattr(models, name), scale))


def _moto_modules_listed_once() -> None:
    """Every request is routed by checking its host against moto's modules, which moto finds by
    listing its package directory and stat-ing each entry, per request (8% of the samples, and
    under the router's lock). The package does not change while the server runs.
    """
    from moto import backends

    modules = tuple(backends.list_of_moto_modules())
    setattr(backends, "list_of_moto_modules", lambda: modules)  # noqa: B010


def _request_log_off() -> None:
    """werkzeug logs a line per request to the emulator's stderr, which nobody reads."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


def _update_expressions_parsed_once() -> None:
    """moto parses an UpdateExpression into a syntax tree twice per item written (once to check
    the attribute names, once to apply it) and every ledger write sends the same few strings
    with new values: parsing was a quarter of a transaction's samples at C = 64 (bench/README.md).
    The tree holds placeholders, not values, and moto's validator works on a deep copy of it,
    so one parsed tree serves every write of the same expression.
    """
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # type: ignore[attr-defined]

    parse = functools.lru_cache(maxsize=UPDATE_EXPRESSIONS_KEPT)(UpdateExpressionParser.make)
    setattr(UpdateExpressionParser, "make", staticmethod(parse))  # noqa: B010


def _retention_period_read_directly() -> None:
    """Before returning each message, moto checks it against the queue's retention period, which
    it reads through `get_queue_attributes`: every attribute computed, ApproximateNumberOf*
    included, each a pass over the whole queue. A receive of 10 from a queue of 1,000 messages
    took 58 ms of the emulator's CPU (alone, no other load), and a worker waits for its receive
    before each invocation. The period is a field of the queue.
    """
    from moto.sqs.models import Message, SQSBackend

    def valid(self: SQSBackend, queue_name: str, message: Message) -> bool:
        retention_period = self.get_queue(queue_name).message_retention_period  # type: ignore[attr-defined]
        return bool(retention_period + message.sent_timestamp / 1000 > time.time())  # type: ignore[operator]

    setattr(SQSBackend, "is_message_valid_based_on_retention_period", valid)  # noqa: B010
