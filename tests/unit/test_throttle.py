import itertools
from collections.abc import Callable

import pytest

from worker.fleet import Fleet, FleetWatch
from worker.throttle import PACING_SHARE, SLOW_START_FRACTION, AdaptiveLimiter, Budget, slot_member


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
    assert budget.window(1 / 300) == 2
    assert budget.window(1 / 150) == 4
    assert budget.window(Fleet(size=600, rank=0, members=4).share) == 4  # its members' part
    assert budget.window(1 / 10) == 8  # never more than the environment's threads
    assert Budget(100, 0, 300, 8).window(1 / 300) == 1  # at least one call
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


def fleet_calls(fleets: list[Fleet], seconds: float) -> dict[int, list[int]]:
    """Slot numbers of each environment's calls at full rate over `seconds`. Each has a clock of
    its own, started together: environments sleep at once, not in turn."""
    slot_s = 1 / (100 * PACING_SHARE)
    seen: dict[int, list[int]] = {}
    for n, fleet in enumerate(fleets):
        clock = Clock()
        limiter = AdaptiveLimiter(Budget(0, 100.0, 10, 8), lambda f=fleet: f, clock, clock.sleep)
        full_rate(limiter, clock)
        began = clock.now = 2000.0
        seen[n] = []
        while clock.now < began + seconds:
            seen[n] += [round(t / slot_s) for t in starts(limiter, clock, 1)]
    return seen


def test_the_fleets_calls_are_evenly_spaced_each_environment_in_its_own_slots() -> None:
    seen = fleet_calls([Fleet(4, rank) for rank in range(4)], seconds=4.0)
    for n, slots in seen.items():
        assert all(slot_member(slot, 4) == n for slot in slots)  # its own slots only
        assert len(slots) == pytest.approx(4.0 * 100 * PACING_SHARE / 4, abs=2)  # an equal share each
    merged = sorted(slot for slots in seen.values() for slot in slots)
    assert len(set(merged)) == len(merged)  # no slot taken twice: no burst
    gaps = [b - a for a, b in itertools.pairwise(merged)]
    # the fleet as a whole, one call a slot: an environment passes over one of its own now and
    # then (its slots are unevenly spaced) but takes the next, never falling behind its rate
    assert sum(gaps) / len(gaps) == pytest.approx(1.0, abs=0.05) and max(gaps) <= 4


def test_an_environment_with_more_rows_to_post_takes_more_of_the_slots() -> None:
    # GIVEN one environment counted with 300 rows to post and another with 100
    seen = fleet_calls([Fleet(400, 0, members=300), Fleet(400, 300, members=100)], seconds=4.0)
    # THEN each takes its own slots, three to one, and the fleet's calls are still one a slot
    assert all(slot_member(slot, 400) >= 300 for slot in seen[1])
    assert all(slot_member(slot, 400) < 300 for slot in seen[0])
    assert len(seen[0]) / len(seen[1]) == pytest.approx(3.0, rel=0.05)
    merged = sorted(slot for slots in seen.values() for slot in slots)
    assert len(set(merged)) == len(merged)
    assert (merged[-1] - merged[0]) / len(merged) == pytest.approx(1.0, abs=0.05)


def test_slots_spread_any_run_of_members_evenly_over_time() -> None:
    # A run of 10 members of 1,000 owns about 1 slot in 100, and never waits much longer for one.
    owned = [slot for slot in range(100_000) if 500 <= slot_member(slot, 1000) < 510]
    assert len(owned) == pytest.approx(1000, rel=0.02)
    assert max(b - a for a, b in itertools.pairwise(owned)) <= 300


def test_more_rows_than_last_counted_keep_the_rate_and_grow_into_the_share() -> None:
    """A new batch of more rows: the others counted its old members this second, so its rate
    grows from where it was, as a newcomer's would, not at once."""
    clock = Clock()
    fleet = [Fleet(2, 1, epoch=1, members=1)]
    limiter = AdaptiveLimiter(Budget(0, 40.0, 1, 8), lambda: fleet[0], clock, clock.sleep)
    full_rate(limiter, clock)
    before = limiter.rate
    fleet[0] = Fleet(4, 1, epoch=1, members=3)
    starts(limiter, clock, 1)
    assert limiter.rate == pytest.approx(before, rel=0.05)
    full_rate(limiter, clock)
    assert limiter.rate == pytest.approx(40 * PACING_SHARE * 3 / 4)


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
        def count(self, second: int, members: int, restated: int = 0) -> Fleet | None:
            counted.append(second)
            return None if len(counted) == 1 else Fleet(3, 1)

        def leave(self, counted: list[tuple[int, int]]) -> None:
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
        self.restated: list[int] = []
        self.left: list[list[tuple[int, int]]] = []

    def count(self, second: int, members: int, restated: int = 0) -> Fleet | None:
        self.counted.append(second)
        self.restated.append(restated)
        return Fleet(self.others + members, self.others, members=members)

    def leave(self, counted: list[tuple[int, int]]) -> None:
        self.left.append(counted)


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
    assert counter.left == [[(61, 1), (62, 1)]]
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
    assert counter.left == [[(70, 1)]]


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


def test_an_environment_counts_its_rows_and_restates_the_last_second_for_a_new_batch() -> None:
    counter = RecordingCounter()
    clock = Clock(now=80.5)
    watch = FleetWatch(counter, clock=clock, renewing=False)
    # GIVEN an invocation of 1,000 rows, counted in second 80
    with watch.posting(1000):
        watch.renew()
    assert watch.current() == Fleet(1002, 2, epoch=1, members=1000)
    # WHEN its next invocation has 610 rows, counted in second 81
    clock.now = 81.5
    with watch.posting(610):
        watch.renew()
    # THEN it counts 610 members, and takes the 390 it no longer has out of second 80
    assert watch.current() == Fleet(612, 2, epoch=1, members=610)
    assert counter.restated == [0, -390]
    # AND leaving (within second 81) takes out what each second now holds of it
    clock.now = 81.9
    watch.leave()
    assert counter.left == [[(80, 610), (81, 610)]]
