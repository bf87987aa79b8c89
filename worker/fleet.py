"""The execution environments posting now, counted in one DynamoDB item, one write a second each.

Lambdas share no memory, so an environment learns how many others are posting from the ledger
table: while it has an invocation under way, it adds one to the current second's counter of the
`#fleet` item once a second and reads the item back in the same call (UpdateItem, ALL_NEW). The
previous second's counter is then complete: the environments that posted a second ago. The
current one tells the environment its place among those counted so far this second, which its
limiter uses to take its own slots of the fleet's pacing (worker/throttle.py). An environment
that stops posting drops out of the count within two seconds; no write ends a lease.

Cost: one small write per environment per second while it posts (1 WCU: the item holds a few
counters), the same as the ledger's flush. Locally the same item lives in the emulator.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

log = logging.getLogger("fanout.worker")

# The ledger table's key of the counter item (message keys are "<job>/<n>", never this).
FLEET_KEY = "#fleet"
# Counters of seconds this long past are removed as the item is written (older ones, left by a
# gap in posting, go with the item's expiry).
KEPT_SECONDS = 2
STALE_SECONDS = 6
# The item goes (DynamoDB's TTL) this long after its last write: nothing reads it between jobs.
EXPIRY_S = 3600
# Each environment renews at its own offset into each second, so its place in the count stays
# the same from one second to the next (the pacing slots it takes stay its own).
OFFSET_RANGE_S = (0.05, 0.6)
# An environment stays counted this long after its invocation ends: the next one usually follows
# within a poll, and a second left out lets the others take its share meanwhile (measured at
# 16 environments: seconds 10-25% over the budget at invocation boundaries).
LINGER_S = 2.0


@dataclass(frozen=True)
class Fleet:
    """Environments posting (this one included) and this one's place among them (from 0)."""

    size: int
    rank: int


class FleetCounter(Protocol):
    def count(self, second: int) -> Fleet | None:
        """Counts this environment in `second`; the fleet, or None before one full second is known."""
        ...


class DynamoFleetCounter:
    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self._dynamodb = dynamodb
        self._table = table

    def count(self, second: int) -> Fleet | None:
        stale = {f"#s{n}": f"n{second - n}" for n in range(KEPT_SECONDS, STALE_SECONDS + 1)}
        answer = self._dynamodb.update_item(
            TableName=self._table,
            Key={"message": {"S": FLEET_KEY}},
            UpdateExpression=f"ADD #now :one SET expires_at = :expires REMOVE {', '.join(stale)}",
            ExpressionAttributeNames={"#now": f"n{second}", **stale},
            ExpressionAttributeValues={
                ":one": {"N": "1"},
                ":expires": {"N": str(second + EXPIRY_S)},
            },
            ReturnValues="ALL_NEW",
        )
        item = answer.get("Attributes", {})
        now = int(item[f"n{second}"]["N"])
        before = item.get(f"n{second - 1}")
        if before is None:
            return None
        return Fleet(max(int(before["N"]), now), now - 1)


class FleetWatch:
    """Keeps this environment counted while an invocation posts, on a thread of its own."""

    def __init__(
        self,
        counter: FleetCounter,
        clock: Callable[[], float] = time.time,
        offset_s: float | None = None,
    ) -> None:
        self._counter = counter
        self._clock = clock
        self._offset_s = random.uniform(*OFFSET_RANGE_S) if offset_s is None else offset_s
        self._changed = threading.Condition()
        self._active = 0
        self._counted: int | None = None  # the last second this environment was counted in
        self._thread: threading.Thread | None = None
        self._ended = -LINGER_S  # when the last invocation ended
        self.fleet: Fleet | None = None  # None: not yet known (the limiter assumes the maximum)

    @contextmanager
    def posting(self) -> Iterator[None]:
        """Around an invocation: counted in every second of it, and for `LINGER_S` after."""
        with self._changed:
            self._active += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="fleet", daemon=True)
                self._thread.start()
            self._changed.notify_all()
        try:
            yield
        finally:
            with self._changed:
                self._active -= 1
                self._ended = self._clock()

    def current(self) -> Fleet | None:
        return self.fleet

    def renew(self) -> None:
        """Counts this environment in the current second, once."""
        second = int(self._clock())
        if second == self._counted:
            return
        self._counted = second
        try:
            fleet = self._counter.count(second)
        except (ClientError, BotoCoreError):
            # The limiter goes on with the last count: a missed second costs pacing, not rows.
            log.warning("could not count this environment in the fleet", exc_info=True)
            return
        if fleet is not None:
            self.fleet = fleet

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._active and self._clock() - self._ended > LINGER_S:
                    self._changed.wait()
            self.renew()
            now = self._clock()
            time.sleep(max(0.0, int(now) + 1 + self._offset_s - now))
