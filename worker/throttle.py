"""A worker's share of the API's budget, its pacing, and how it backs off when the API says "slow down".

Reserved concurrency caps invocations, not calls: 300 workers of 8 threads are 2,400 calls in
flight, and nothing in AWS caps an SQS fan-out in calls per second. The stack's budget (calls in
flight, calls a second) is shared by the execution environments posting now (worker/fleet.py
counts them), not by the mapping's maximum: until an environment has a count, it assumes the
maximum, the share that is safe whoever else is posting.

Pacing: the fleet's calls a second are slots a fixed time apart on the clock (1 / rate), and
each slot belongs to one member of the fleet (worker/fleet.py: an environment counts a member
per row it has to post), so each environment paces at its members' share and uses only its own
slots. So the fleet's calls are evenly spaced as a whole, with no burst: n environments pacing
on their own, each at rate / n from its own start, line up at random, and a sliding one-second
window then sees up to n more calls than the rate (the API's 429s measured in issue 21: 1% at
300 a second). Slot j belongs to the member at the fractional part of j times the golden ratio
(Fibonacci hashing, in integers so every environment reckons it alike): any run of members owns
slots spread evenly over time (the three-gap theorem), whatever the fleet's size.

Within its share, the limiter adapts as TCP does: it starts at a fraction of its share and
doubles each second (slow start) until the share or the API's first 429 or 503; after that, a
throttled call cuts its rate and window by `DECREASE_FACTOR` (at most once per
`DECREASE_EVERY_S`) and each success wins a little back (additive increase), up to the
share. So it finds an API's real limit below the budget and climbs back when the limit rises.

Slow start begins again when the environment comes back to the fleet after it left the count
(a new `Fleet.epoch`: the others took its share meanwhile, and count it only from their next
renewal), not after a pause within it: between invocations the environment stays counted, its
share kept for it. Restarting after any second without a call (as TCP after idle) restarted
every environment at each round of invocations, whose ends and starts hold no call for a second
or two: at R = 1,000, two such ramps in a 24 s run.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from worker.fleet import Fleet

# The fleet paces to this share of the budget: a call's start reaches the API a little late or
# early (a thread's wake-up, the network), and a window of exactly the rate then overflows.
# Measured against both limiters at R = 100, 300 and 1,000: no call answered 429 at 0.95 or 0.97.
PACING_SHARE = 0.97
# Slow start begins at this fraction of the share and doubles every second.
SLOW_START_FRACTION = 0.25
# Additive increase: each second without a throttle, the rate wins back this fraction of the rate
# it had when last throttled (the API's limit as last found, not the budget: an API far below the
# budget is then probed in its own steps).
INCREASE_PER_S = 0.1
# Multiplicative decrease (TCP CUBIC's factor): most 429s under a budget are a fleet that grew a
# second before the others counted it, a few percent over, not an API at half the rate.
DECREASE_FACTOR = 0.7
# Additive increase of the window: a full window of successes grows it by one call.
INCREASE_PER_WINDOW = 1.0
# A burst of 429s answers one overshoot: one halving for all that arrive this close together.
DECREASE_EVERY_S = 0.5
# The rate never backs off below this share of its ceiling, so a throttled worker still probes.
MIN_RATE_FRACTION = 0.02
# A call whose thread wakes later than this past its slot takes another slot (see `permit`).
LATE_S = 0.02
# ...at most this many times (a CPU late on every wake-up must not hold the call for ever).
RESLOTS = 3
# Rounding of slot numbers (a start time a hair past its slot is that slot).
_SLOT_EPSILON = 1e-6
# Rounding of an in-flight share (600 x 1/300 computed as 1.9999... is 2 calls).
_SHARE_EPSILON = 1e-9
# Fibonacci hashing: 2^64 over the golden ratio, odd; a slot's member is its product's top bits.
_GOLDEN_64 = 0x9E3779B97F4A7C15
_MASK_64 = (1 << 64) - 1
# Slots looked at for one of this environment's own before it takes its due time as it is: a run
# of m members of a fleet of n owns a slot at least every 3n / m or so (three-gap theorem).
MAX_SLOT_SEARCH = 10_000


@dataclass(frozen=True)
class Budget:
    """The stack's budget (0 = no limit of that kind) and the mapping's maximum concurrency."""

    in_flight: int
    per_second: float
    max_concurrency: int
    threads: int

    @property
    def shared(self) -> bool:
        """Whether there is a budget to share over the environments posting."""
        return bool(self.in_flight or self.per_second)

    def window(self, share: float) -> int:
        """Calls in flight one environment may have with `share` of the budget (of 1)."""
        if not self.in_flight:
            return self.threads
        return min(self.threads, max(1, math.floor(self.in_flight * share + _SHARE_EPSILON)))


class Permit:
    throttled = False


class AdaptiveLimiter:
    def __init__(
        self,
        budget: Budget,
        fleet: Callable[[], Fleet | None] = lambda: None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """`fleet`: the environments posting now, as last counted (None: not known yet)."""
        self._budget = budget
        self._fleet = fleet
        self._clock = clock
        self._sleep = sleep
        self._changed = threading.Condition()
        self._in_flight = 0
        fleet_now = self._current_fleet()
        self._window = float(budget.window(fleet_now.share))
        # The rate as a fraction of the share: the fleet's size may change, the API's limit not.
        self._fraction = SLOW_START_FRACTION if budget.per_second else 1.0
        self._slow_start = bool(budget.per_second)
        self._next_start = 0.0
        self._last_slot = 0  # the last slot this environment took: each is taken once
        self._decreased_at = -math.inf
        self._found = 1.0  # the fraction of the share the API allowed when it last throttled
        self._epoch = fleet_now.epoch  # the fleet membership the rate was reached in
        self._members = fleet_now.members  # this environment's members when it last called
        self._part = fleet_now.share  # and its part of the fleet then
        self.throttles = 0

    @property
    def window(self) -> float:
        return self._window

    @property
    def rate(self) -> float:
        """Calls a second this environment starts at most now (0: no rate budget)."""
        return self._fraction * self._share(self._current_fleet())

    @contextmanager
    def permit(self) -> Iterator[Permit]:
        """Waits for room in the window and this environment's next slot; set `throttled`."""
        start_at = self._acquire()
        for _ in range(RESLOTS):
            wait = start_at - self._clock()
            if wait > 0:
                self._sleep(wait)
            if not self._budget.per_second or self._clock() - start_at <= LATE_S:
                break
            # Woken too late for its slot (a busy CPU): a call sent now would bunch with the
            # next slots' and overrun a sliding window; it takes a later slot instead.
            start_at = self._reslot()
        permit = Permit()
        try:
            yield permit
        finally:
            self._release(permit.throttled)

    def _current_fleet(self) -> Fleet:
        fleet = self._fleet()
        return fleet if fleet is not None else Fleet(self._budget.max_concurrency, 0)

    def _share(self, fleet: Fleet) -> float:
        return self._budget.per_second * PACING_SHARE * fleet.share

    def _acquire(self) -> float:
        with self._changed:
            fleet = self._current_fleet()
            ceiling = self._budget.window(fleet.share)
            self._window = min(self._window, float(ceiling))
            while self._in_flight >= max(1, math.floor(self._window)):
                self._changed.wait()
            self._in_flight += 1
            now = self._clock()
            if not self._budget.per_second:
                return now
            if fleet.epoch > self._epoch:
                if self._epoch:
                    # Back in the fleet after it left: its first second at full share would
                    # overrun the others' count, which does not have it yet. (Its first count is
                    # no such return: the others counted it in the second it had no count.)
                    self._fraction = min(self._fraction, SLOW_START_FRACTION)
                    self._slow_start = True
                self._epoch = fleet.epoch
            elif fleet.members > self._members and fleet.share > self._part:
                # More rows than its last count: those who renewed before it this second have not
                # counted the new members, so it grows into their share from the rate it had, as a
                # newcomer would.
                self._fraction = max(MIN_RATE_FRACTION, self._fraction * self._part / fleet.share)
                self._slow_start = True
            self._members, self._part = fleet.members, fleet.share
            return self._next_slot(now, fleet)

    def _reslot(self) -> float:
        with self._changed:
            return self._next_slot(self._clock(), self._current_fleet())

    def _next_slot(self, now: float, fleet: Fleet) -> float:
        """Reserves this environment's next start: the first of its slots at or after its due time.
        The next due time is reckoned from this one before it is rounded to a slot, so the
        rounding costs no rate over many calls."""
        due = max(now, self._next_start)
        self._next_start = due + 1.0 / (self._fraction * self._share(fleet))
        return self._slot_at_or_after(due, fleet)

    def _slot_at_or_after(self, when: float, fleet: Fleet) -> float:
        """The first of this environment's slots at or after `when` that it has not taken yet."""
        slot_s = 1.0 / (self._budget.per_second * PACING_SHARE)
        first = slot = max(math.ceil(when / slot_s - _SLOT_EPSILON), self._last_slot + 1)
        size = fleet.members_counted
        while not fleet.rank <= slot_member(slot, size) < fleet.rank + fleet.members:
            slot += 1
            if slot - first > MAX_SLOT_SEARCH:
                slot = first
                break
        self._last_slot = slot
        return slot * slot_s

    def _release(self, throttled: bool) -> None:
        with self._changed:
            self._in_flight -= 1
            if throttled:
                self._throttled()
            else:
                self._succeeded()
            self._changed.notify_all()

    def _throttled(self) -> None:
        self.throttles += 1
        now = self._clock()
        if now - self._decreased_at < DECREASE_EVERY_S:
            return
        self._decreased_at = now
        self._found = self._fraction
        self._slow_start = False
        self._window = max(1.0, self._window * DECREASE_FACTOR)
        self._fraction = max(MIN_RATE_FRACTION, self._fraction * DECREASE_FACTOR)

    def _succeeded(self) -> None:
        fleet = self._current_fleet()
        self._window = min(
            float(self._budget.window(fleet.share)), self._window + INCREASE_PER_WINDOW / self._window
        )
        if not self._budget.per_second:
            return
        # Per success at `rate` successes a second: the growth per second the constants say.
        rate = max(self._fraction * self._share(fleet), 1e-9)
        step = self._fraction * math.log(2) if self._slow_start else INCREASE_PER_S * self._found
        self._fraction = min(1.0, self._fraction + step / rate)
        if self._fraction >= 1.0:
            self._slow_start = False


def slot_member(slot: int, size: int) -> int:
    """The member of a fleet of `size` that slot number `slot` belongs to."""
    return (((slot * _GOLDEN_64) & _MASK_64) * size) >> 64
