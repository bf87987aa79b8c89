from fanout.backoff import backoff_delay


def test_full_jitter_ceiling_doubles_then_caps() -> None:
    top = [backoff_delay(n, 0.1, 1.0, rand=lambda: 1.0) for n in range(1, 7)]
    assert top == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    assert backoff_delay(3, 0.1, 1.0, rand=lambda: 0.0) == 0.0
    assert backoff_delay(0, 0.1, 1.0) == 0.0
    assert backoff_delay(10_000, 0.1, 1.0, rand=lambda: 0.5) == 0.5


def test_a_redelivery_waits_seconds_growing_with_the_receives_up_to_its_cap() -> None:
    from fanout.redelivery import REDELIVERY_BASE_S, REDELIVERY_CAP_S, redelivery_delay_s

    assert redelivery_delay_s(1, rand=lambda: 0.0) == REDELIVERY_BASE_S
    assert redelivery_delay_s(1, rand=lambda: 1.0) == 2 * REDELIVERY_BASE_S
    assert redelivery_delay_s(3, rand=lambda: 1.0) == REDELIVERY_BASE_S + 4 * REDELIVERY_BASE_S
    assert redelivery_delay_s(50, rand=lambda: 1.0) == REDELIVERY_BASE_S + REDELIVERY_CAP_S
