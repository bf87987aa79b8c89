"""How often `fanout run` reads its job: often at its start and near its end, seldom between."""

from __future__ import annotations

from dataclasses import replace

from infra.cli.run_job import FIRST_POLL_S, POLL_S, poll_interval
from tests.unit.test_progress import JOB as SOME_JOB

JOB = replace(SOME_JOB, rows_total=100_000, rows_posted=10_000)


def test_a_job_is_read_often_in_its_first_seconds() -> None:
    assert poll_interval(None, 0.5) == FIRST_POLL_S
    assert poll_interval(JOB, 0.5) == FIRST_POLL_S


def test_a_job_far_from_its_end_is_read_every_poll() -> None:
    # 10,000 of 100,000 rows in 10 s: 90 s to go
    assert poll_interval(JOB, 10.0) == POLL_S


def test_a_job_near_its_end_is_read_often_so_its_end_is_seen_when_it_comes() -> None:
    # 99,500 of 100,000 rows in 100 s: half a second to go
    assert poll_interval(replace(JOB, rows_posted=99_500), 100.0) == FIRST_POLL_S
