from worker.throttle import AdaptiveLimiter, Share


def test_each_environment_takes_an_equal_share_of_the_budget() -> None:
    assert Share.of(max_in_flight=600, max_per_second=1500, max_concurrency=300, threads=8) == Share(2, 5.0)
    assert Share.of(max_in_flight=0, max_per_second=0, max_concurrency=300, threads=8) == Share(8, 0.0)
    assert Share.of(max_in_flight=100, max_per_second=0, max_concurrency=300, threads=8).in_flight == 1
    assert Share.of(max_in_flight=10_000, max_per_second=0, max_concurrency=10, threads=8).in_flight == 8


def test_throttling_halves_the_window_and_rate_and_successes_win_them_back() -> None:
    limiter = AdaptiveLimiter(Share(8, 40.0), clock=lambda: 0.0, sleep=lambda s: None)
    with limiter.permit() as permit:
        permit.throttled = True
    assert (limiter.window, limiter.rate, limiter.throttles) == (4.0, 20.0, 1)
    with limiter.permit() as permit:
        permit.throttled = True
    assert (limiter.window, limiter.rate) == (2.0, 10.0)
    for _ in range(200):
        with limiter.permit():
            pass
    assert (limiter.window, limiter.rate) == (8.0, 40.0)  # back to the share, never above


def test_starts_are_spaced_to_the_rate() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)

    limiter = AdaptiveLimiter(Share(8, 10.0), clock=lambda: now[0], sleep=sleep)
    for _ in range(12):
        with limiter.permit():
            pass
    # a second's worth (10) at once, then one every 0.1 s with the clock standing still
    assert [round(s, 6) for s in slept] == [0.1, 0.2]
    now[0] = 5.0  # a pause refills the bucket to one second's worth, no more
    slept.clear()
    for _ in range(11):
        with limiter.permit():
            pass
    assert [round(s, 6) for s in slept] == [0.1]
