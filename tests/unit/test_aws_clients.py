"""The functions' AWS clients give up within the time each function keeps back."""

from __future__ import annotations

from fanout.aws_clients import SPLITTER_CLIENTS, WORKER_CLIENTS, ClientLimits
from splitter.core import HANDOFF_RESERVE_S
from worker.core import SETTLE_RESERVE_S


def test_a_call_at_its_worst_is_every_attempt_timing_out_plus_the_longest_backoffs() -> None:
    limits = ClientLimits(connect_timeout_s=1.0, read_timeout_s=4.0, attempts=3)
    assert limits.worst_call_s == 3 * 5.0 + 2.0 + 4.0
    config = limits.config()
    assert (config.connect_timeout, config.read_timeout) == (1.0, 4.0)
    assert config.retries == {"mode": "standard", "total_max_attempts": 3}


def test_each_functions_clients_give_up_within_the_time_it_keeps_back() -> None:
    assert WORKER_CLIENTS.worst_call_s < SETTLE_RESERVE_S
    assert SPLITTER_CLIENTS.worst_call_s < HANDOFF_RESERVE_S
