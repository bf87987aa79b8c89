import pytest

from worker.latencies import MIN_SAMPLES, Latencies


def test_the_call_timeout_follows_the_answers_within_the_templates() -> None:
    latencies = Latencies()
    assert latencies.call_timeout(10.0) == 10.0  # nothing seen yet: the template's
    for _ in range(MIN_SAMPLES * 2):
        latencies.add(0.05)
    assert latencies.call_timeout(10.0) == 1.0  # 4 x 50 ms is below the floor
    assert latencies.call_timeout(0.5) == 0.5  # never above the template's
    for _ in range(256):
        latencies.add(2.0)
    assert latencies.call_timeout(10.0) == pytest.approx(8.0)
    assert latencies.call_timeout(5.0) == 5.0


def test_a_straggler_is_a_call_far_slower_than_the_answers_seen() -> None:
    latencies = Latencies()
    assert latencies.straggler_s(10.0) == 10.0
    for _ in range(MIN_SAMPLES * 2):
        latencies.add(0.05)
    assert latencies.straggler_s(10.0) == pytest.approx(0.2)  # 3 x 50 ms, at least 0.2 s
    for _ in range(256):
        latencies.add(0.5)
    assert latencies.straggler_s(10.0) == pytest.approx(1.5)
