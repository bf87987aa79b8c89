from fanout.backoff import backoff_delay


def test_full_jitter_ceiling_doubles_then_caps() -> None:
    top = [backoff_delay(n, 0.1, 1.0, rand=lambda: 1.0) for n in range(1, 7)]
    assert top == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    assert backoff_delay(3, 0.1, 1.0, rand=lambda: 0.0) == 0.0
    assert backoff_delay(0, 0.1, 1.0) == 0.0
    assert backoff_delay(10_000, 0.1, 1.0, rand=lambda: 0.5) == 0.5
