"""The execution environments posting now, counted in one DynamoDB item, one write a second each.

Lambdas share no memory, so an environment learns how many others are posting from the ledger
table: while it has an invocation under way, it adds its members to the current second's counter
of the `#fleet` item once a second and reads the item back in the same call (UpdateItem,
ALL_NEW). The previous second's counter is then complete: the members that posted a second ago.
The current one tells the environment where its members stand among those counted so far this
second, which its limiter uses to take its own slots of the fleet's pacing (worker/throttle.py).

An environment counts one member per row its invocation has to post, so the budget is shared in
proportion to the work each has, and they run out of rows together. Its next invocation usually
has another number of rows: counted anew, it also restates what it counted a second ago (one
ADD more in the same call), so the others do not reckon for a second with a fleet that is no
longer there (measured at R = 1,000: a second at 0.61 of the rate at each round of invocations,
when every environment's batch shrank from 1,000 rows to about 610). Counted one each, the
environments with smaller batches ran out first and each departure cost the fleet a second or
more of the leaver's share: at R = 100 a 2,400-row job reached four environments with 330 to
900 rows each, and three departures in the middle of the run cost 7 % of its rate
(bench/README.md).

An environment that stops posting (no invocation for `LINGER_S`) takes itself out of the
counters it is in, so the others take its share at their next renewal, within a second. Left to
age out instead, it stayed in the count for three to four seconds (the linger, then the previous
second's counter): at R = 100 the last environments with rows posted at 0.5-0.6 R meanwhile
(bench/README.md). An environment that comes back is a new member (`Fleet.epoch`): the others
have not counted it yet, so its limiter starts slowly again.

Cost: one small write per environment per second while it posts (1 WCU: the item holds a few
counters), the same as the ledger's flush; leaving is one more, in place of the next second's.
Locally the same item lives in the emulator.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
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
# 16 environments: seconds 10-25% over the budget at invocation boundaries). The gaps between
# invocations measured 0.06-0.48 s at R = 1,000 under a load average of 2-5. Longer is no overrun:
# an environment that left comes back in slow start; but its share lies unused meanwhile.
LINGER_S = 0.5
# A hair past the linger, so the thread wakes after it has run out, not just before.
_LEAVE_SLACK_S = 0.01


@dataclass(frozen=True)
class Fleet:
    """Members counted in the fleet (this environment's included), the place of this environment's
    first member among them (from 0), and how many members it counts."""

    size: int
    rank: int
    # How many times this environment has joined the fleet (FleetWatch): a new epoch means it
    # was out of the count, and the others took its share meanwhile.
    epoch: int = 0
    members: int = 1

    @property
    def members_counted(self) -> int:
        """The fleet's members as this environment reckons them: its own counted in, at least."""
        return max(self.size, self.rank + self.members)

    @property
    def share(self) -> float:
        """This environment's part of the fleet."""
        return self.members / self.members_counted


class FleetCounter(Protocol):
    def count(self, second: int, members: int, restated: int = 0) -> Fleet | None:
        """Counts this environment's `members` in `second` (and `restated` more in the second before,
        where it counted others); the fleet, or None before one full second is known."""
        ...

    def leave(self, counted: list[tuple[int, int]]) -> None:
        """Takes this environment out of the counters it was counted in: (second, members) each."""
        ...


class DynamoFleetCounter:
    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self._dynamodb = dynamodb
        self._table = table

    def count(self, second: int, members: int, restated: int = 0) -> Fleet | None:
        stale = {f"#s{n}": f"n{second - n}" for n in range(KEPT_SECONDS, STALE_SECONDS + 1)}
        names = {"#now": f"n{second}", **stale}
        values = {":members": {"N": str(members)}, ":expires": {"N": str(second + EXPIRY_S)}}
        add = "#now :members"
        if restated:
            names["#before"] = f"n{second - 1}"
            values[":restated"] = {"N": str(restated)}
            add += ", #before :restated"
        answer = self._dynamodb.update_item(
            TableName=self._table,
            Key={"message": {"S": FLEET_KEY}},
            UpdateExpression=f"ADD {add} SET expires_at = :expires REMOVE {', '.join(stale)}",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
        )
        item = answer.get("Attributes", {})
        now = int(item[f"n{second}"]["N"])
        before = item.get(f"n{second - 1}")
        if before is None:
            return None
        return Fleet(max(int(before["N"]), now), now - members, members=members)

    def leave(self, counted: list[tuple[int, int]]) -> None:
        if not counted:
            return
        names = {f"#s{n}": f"n{second}" for n, (second, _) in enumerate(counted)}
        values = {f":m{n}": {"N": str(-members)} for n, (_, members) in enumerate(counted)}
        self._dynamodb.update_item(
            TableName=self._table,
            Key={"message": {"S": FLEET_KEY}},
            UpdateExpression=f"ADD {', '.join(f'#s{n} :m{n}' for n in range(len(counted)))}",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )


class FleetWatch:
    """Keeps this environment counted while an invocation posts, on a thread of its own, and takes
    it out of the count once it has stopped posting."""

    def __init__(
        self,
        counter: FleetCounter,
        clock: Callable[[], float] = time.time,
        offset_s: float | None = None,
        renewing: bool = True,
    ) -> None:
        """`renewing`: keep the count on a thread of its own (False: the caller calls renew)."""
        self._counter = counter
        self._renewing = renewing
        self._clock = clock
        self._offset_s = random.uniform(*OFFSET_RANGE_S) if offset_s is None else offset_s
        self._changed = threading.Condition()
        self._active: list[int] = []  # the members of each invocation under way
        self._members = 1  # what it counts: its invocations' rows (the last one's while it lingers)
        self._counted: list[tuple[int, int]] = []  # (second, members) it is counted in, the last two
        self._thread: threading.Thread | None = None
        self._ended = -LINGER_S  # when the last invocation ended
        self._epoch = 0  # how many times this environment joined the fleet
        self.fleet: Fleet | None = None  # None: not yet known (the limiter assumes the maximum)

    @contextmanager
    def posting(self, rows: int = 1) -> Iterator[None]:
        """Around an invocation of `rows` to post: counted in every second of it (as that many
        members, from its next renewal), and for `LINGER_S` after."""
        members = max(1, rows)
        with self._changed:
            self._active.append(members)
            self._members = sum(self._active)
            if self._thread is None and self._renewing:
                self._thread = threading.Thread(target=self._run, name="fleet", daemon=True)
                self._thread.start()
            self._changed.notify_all()
        try:
            yield
        finally:
            with self._changed:
                self._active.remove(members)
                self._members = sum(self._active) or members
                self._ended = self._clock()
                self._changed.notify_all()

    def current(self) -> Fleet | None:
        return self.fleet

    def renew(self) -> None:
        """Counts this environment in the current second, once (joining the fleet if it is out)."""
        second, members = int(self._clock()), self._members
        if self._counted and second == self._counted[-1][0]:
            return
        restated, earlier = 0, []
        if self._counted:
            last_second, last_members = self._counted[-1]
            if last_second == second - 1:
                restated = members - last_members
            # After the call it counts as `members` in both seconds, as far as it knows (leave()).
            earlier = [(last_second, last_members + restated)]
        else:
            self._epoch += 1
        self._counted = [*earlier, (second, members)]
        try:
            fleet = self._counter.count(second, members, restated)
        except (ClientError, BotoCoreError):
            # The limiter goes on with the last count: a missed second costs pacing, not rows.
            log.warning("could not count this environment in the fleet", exc_info=True)
            return
        if fleet is not None:
            self.fleet = replace(fleet, epoch=self._epoch)

    def leave(self) -> None:
        """Out of the counters the others read (this second's and the last): they take its share
        at their next renewal. Its next `renew` joins the fleet again, in a new epoch."""
        second = int(self._clock())
        counted, self._counted = [c for c in self._counted if c[0] >= second - 1], []
        self.fleet = None
        try:
            self._counter.leave(counted)
        except (ClientError, BotoCoreError):
            # The others count it for a second or two more: a share unused, no row lost.
            log.warning("could not take this environment out of the fleet", exc_info=True)

    def _run(self) -> None:
        while True:
            with self._changed:
                if not self._active and self._clock() - self._ended > LINGER_S and self._counted:
                    stopped = True
                else:
                    stopped = False
                    while not self._active and self._clock() - self._ended > LINGER_S:
                        self._changed.wait()
            if stopped:
                self.leave()
                continue
            self.renew()
            self._wait_next_renewal()

    def _wait_next_renewal(self) -> None:
        """Until this environment's offset into the next second, or sooner if it stops lingering
        (it leaves the count then, not at the next offset)."""
        now = self._clock()
        until = int(now) + 1 + self._offset_s
        with self._changed:
            if not self._active:
                until = min(until, self._ended + LINGER_S + _LEAVE_SLACK_S)
            self._changed.wait(max(0.0, until - now))
