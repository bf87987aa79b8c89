import itertools
from collections.abc import Callable

import pytest

from worker.fleet import Fleet, FleetWatch
from worker.throttle import PACING_SHARE, SLOW_START_FRACTION, AdaptiveLimiter, Budget


class Clock:
    """A fake clock that a limiter's sleep moves on."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def starts(limiter: AdaptiveLimiter, clock: Clock, calls: int, throttled: bool = False) -> list[float]:
    """When each of `calls` sequential calls started."""
    times = []
    for _ in range(calls):
        with limiter.permit() as permit:
            times.append(clock.now)
            permit.throttled = throttled
    return times


def full_rate(limiter: AdaptiveLimiter, clock: Clock) -> None:
    """Past slow start: successes until the limiter runs at its share."""
    for _ in range(10_000):
        with limiter.permit():
            pass
        if not limiter._slow_start:
            return
    raise AssertionError("slow start never ended")


def fleet_of(size: int, rank: int) -> Callable[[], Fleet | None]:
    return lambda: Fleet(size, rank)


def test_the_in_flight_budget_is_shared_by_the_environments_posting() -> None:
    budget = Budget(in_flight=600, per_second=0, max_concurrency=300, threads=8)
    assert budget.window(300) == 2
    assert budget.window(150) == 4
    assert budget.window(10) == 8  # never more than the environment's threads
    assert Budget(100, 0, 300, 8).window(300) == 1  # at least one call
    assert Budget(0, 0, 300, 8).window(1) == 8  # no budget: the threads
    assert not Budget(0, 0, 300, 8).shared and Budget(0, 5.0, 300, 8).shared


def test_until_the_fleet_is_counted_an_environment_takes_the_share_of_the_maximum() -> None:
    clock = Clock()
    fleet: list[Fleet | None] = [None]
    limiter = AdaptiveLimiter(Budget(40, 300.0, 10, 8), lambda: fleet[0], clock, clock.sleep)
    assert limiter.window == 4
    assert limiter.rate == pytest.approx(SLOW_START_FRACTION * 300 * PACING_SHARE / 10)
    fleet[0] = Fleet(size=2, rank=0)  # two environments are really posting
    assert limiter.rate == pytest.approx(SLOW_START_FRACTION * 300 * PACING_SHARE / 2)
    starts(limiter, clock, 1)
    assert limiter.window <= 20  # grows towards 40 / 2 now, one call per window of successes


def test_the_fleets_calls_are_evenly_spaced_each_environment_in_its_own_slots() -> None:
    clock = Clock()
    limiters = [
        AdaptiveLimiter(Budget(0, 100.0, 10, 8), fleet_of(4, rank), clock, clock.sleep) for rank in range(4)
    ]
    while any(limiter._slow_start for limiter in limiters):
        for limiter in limiters:
            starts(limiter, clock, 1)
    # Each environment's calls come one fleet's worth of slots apart, on its own slots.
    slot_s = 1 / (100 * PACING_SHARE)
    times: dict[int, list[float]] = {rank: [] for rank in range(4)}
    for _ in range(20):
        for rank, limiter in enumerate(limiters):
            times[rank] += starts(limiter, clock, 1)
    for rank, seen in times.items():
        slots = [round(t / slot_s) for t in seen]
        assert {s % 4 for s in slots} == {rank}
        assert all(b - a == 4 for a, b in itertools.pairwise(slots[5:]))
    merged = sorted(t for seen in times.values() for t in seen[5:])
    gaps = {round((b - a) / slot_s, 6) for a, b in itertools.pairwise(merged)}
    assert gaps == {1.0}  # no burst: the fleet as a whole, one call a slot


def test_slow_start_doubles_each_second_up_to_the_share() -> None:
    clock = Clock()
    limiter = AdaptiveLimiter(Budget(0, 100.0, 1, 8), lambda: Fleet(1, 0), clock, clock.sleep)
    share = 100 * PACING_SHARE
    assert limiter.rate == pytest.approx(SLOW_START_FRACTION * share)
    began = clock.now
    while limiter.rate < share / 2:
        starts(limiter, clock, 1)
    assert clock.now - began == pytest.approx(1.0, abs=0.1)  # 1/4 to 1/2 of the share in a second
    while limiter.rate < share:
        starts(limiter, clock, 1)
    assert clock.now - began == pytest.approx(2.0, abs=0.1)
    starts(limiter, clock, 50)
    assert limiter.rate == pytest.approx(share)  # never above


def test_throttling_cuts_once_per_burst_and_successes_win_the_rate_back() -> None:
    clock = Clock()
    limiter = AdaptiveLimiter(Budget(8, 40.0, 1, 8), lambda: Fleet(1, 0), clock, clock.sleep)
    full_rate(limiter, clock)
    share = 40 * PACING_SHARE
    for _ in range(30):
        starts(limiter, clock, 1)
    assert (limiter.window, limiter.rate) == (8.0, pytest.approx(share))
    starts(limiter, clock, 3, throttled=True)  # 3 calls within half a second: one cut
    assert (limiter.window, limiter.rate, limiter.throttles) == (5.6, pytest.approx(0.7 * share), 3)
    clock.now += 1.0
    starts(limiter, clock, 1, throttled=True)
    assert limiter.rate == pytest.approx(0.49 * share)
    # Additive increase: a tenth of the rate last throttled at (0.7 of the share) a second, back
    # to the share and no further.
    began = clock.now
    while limiter.rate < share:
        starts(limiter, clock, 1)
    assert clock.now - began == pytest.approx(0.51 / 0.07, rel=0.05)
    assert limiter.window == 8.0
    starts(limiter, clock, 50)
    assert limiter.rate == pytest.approx(share)


def test_back_in_the_fleet_after_it_left_an_environment_starts_slowly_again() -> None:
    clock = Clock()
    fleet = [Fleet(1, 0, epoch=1)]
    limiter = AdaptiveLimiter(Budget(0, 40.0, 1, 8), lambda: fleet[0], clock, clock.sleep)
    full_rate(limiter, clock)
    clock.now += 5.0  # no work: it left the count, and the others took its share meanwhile
    fleet[0] = Fleet(1, 0, epoch=2)
    starts(limiter, clock, 1)
    assert limiter.rate == pytest.approx(SLOW_START_FRACTION * 40 * PACING_SHARE, rel=0.1)


def test_a_pause_between_invocations_keeps_the_rate() -> None:
    """Still counted between invocations, an environment's share was kept for it: a round of
    invocations whose ends and starts hold no call for two seconds costs no slow start."""
    clock = Clock()
    fleet = Fleet(2, 1, epoch=1)
    limiter = AdaptiveLimiter(Budget(0, 40.0, 1, 8), lambda: fleet, clock, clock.sleep)
    full_rate(limiter, clock)
    clock.now += 2.0
    starts(limiter, clock, 1)
    assert limiter.rate == pytest.approx(40 * PACING_SHARE / 2)


def test_its_first_count_is_no_return_to_the_fleet() -> None:
    """Counted by the others from its first second, an environment that learns the fleet's size
    a second later keeps the rate it has reached meanwhile."""
    clock = Clock()
    fleet: list[Fleet | None] = [None]
    limiter = AdaptiveLimiter(Budget(0, 40.0, 1, 8), lambda: fleet[0], clock, clock.sleep)
    starts(limiter, clock, 5)
    reached = limiter._fraction
    fleet[0] = Fleet(1, 0, epoch=1)
    starts(limiter, clock, 1)
    assert limiter._fraction >= reached > SLOW_START_FRACTION


def test_an_api_limit_below_the_budget_is_found_and_held() -> None:
    """A fleet of one against an API allowing 30 calls a second of a 100 budget: the limiter's
    rate settles around 30 (AIMD's saw between half and all of it) and 429s stay few."""
    clock = Clock()
    limiter = AdaptiveLimiter(Budget(0, 100.0, 1, 8), lambda: Fleet(1, 0), clock, clock.sleep)
    accepted: list[float] = []
    refused = 0
    for _ in range(6000):
        with limiter.permit() as permit:
            recent = [t for t in accepted[-40:] if t > clock.now - 1.0]
            if len(recent) >= 30:
                permit.throttled = True
                refused += 1
            else:
                accepted.append(clock.now)
    rate = (len(accepted) - 1) / (accepted[-1] - accepted[0])
    assert 0.75 * 30 <= rate <= 30
    assert refused < 0.02 * 6000


def test_an_environment_is_counted_once_a_second_while_it_posts() -> None:
    counted: list[int] = []

    class Counter:
        def count(self, second: int) -> Fleet | None:
            counted.append(second)
            return None if len(counted) == 1 else Fleet(3, 1)

        def leave(self, seconds: list[int]) -> None:
            raise AssertionError("it did not stop posting")

    clock = Clock(now=50.2)
    watch = FleetWatch(Counter(), clock=clock)
    watch.renew()
    assert watch.current() is None  # the first second of the fleet: no full second yet
    clock.now = 50.9
    watch.renew()  # the same second: not counted twice
    clock.now = 51.3
    watch.renew()
    assert counted == [50, 51]
    assert watch.current() == Fleet(3, 1, epoch=1)


class RecordingCounter:
    """Counts as the ledger's item would for a fleet of this one environment and `others`."""

    def __init__(self, others: int = 2) -> None:
        self.others = others
        self.counted: list[int] = []
        self.left: list[list[int]] = []

    def count(self, second: int) -> Fleet | None:
        self.counted.append(second)
        return Fleet(self.others + 1, self.others)

    def leave(self, seconds: list[int]) -> None:
        self.left.append(seconds)


def test_an_environment_that_stops_posting_leaves_the_counters_the_others_read() -> None:
    counter = RecordingCounter()
    clock = Clock(now=60.3)
    watch = FleetWatch(counter, clock=clock)
    for now in (60.3, 61.3, 62.3):  # counted in three seconds, the last two still read
        clock.now = now
        watch.renew()
    assert watch.current() == Fleet(3, 2, epoch=1)
    clock.now = 62.9
    watch.leave()
    assert counter.left == [[61, 62]]
    assert watch.current() is None  # not known until it is counted again
    # WHEN it posts again, in the same second
    watch.renew()
    # THEN it is counted again at once, as a new member of the fleet
    assert counter.counted == [60, 61, 62, 62]
    assert watch.current() == Fleet(3, 2, epoch=2)


def test_leaving_a_second_later_takes_it_out_of_the_last_second_only() -> None:
    counter = RecordingCounter()
    clock = Clock(now=70.5)
    watch = FleetWatch(counter, clock=clock)
    watch.renew()
    clock.now = 71.7  # its renewal of second 71 not yet made
    watch.leave()
    assert counter.left == [[70]]


def test_a_call_woken_late_for_its_slot_takes_a_later_one() -> None:
    clock = Clock()
    limiter = AdaptiveLimiter(Budget(0, 100.0, 1, 8), lambda: Fleet(2, 1), clock, clock.sleep)
    full_rate(limiter, clock)
    slept: list[float] = []
    late = [0.05]

    def oversleep(seconds: float) -> None:  # a busy CPU: the first wake-up 50 ms late
        slept.append(seconds)
        clock.now += seconds + late.pop() if late else seconds

    limiter._sleep = oversleep
    with limiter.permit():
        started = clock.now
    # it slept again, to one of its own (odd) slots, and went out on it
    slot_s = 1 / (100 * PACING_SHARE)
    assert len(slept) == 2
    assert round(started / slot_s) % 2 == 1 and started == pytest.approx(round(started / slot_s) * slot_s)
