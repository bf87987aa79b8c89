"""The progress line and `fanout status` row of a job."""

from __future__ import annotations

import time
from dataclasses import replace

from fanout.jobs import SPLIT, SPLITTING, Job, SplitCheckpoint
from infra.cli.progress import progress_line
from infra.cli.status import COLUMNS, row_for

JOB = Job(
    job_id="j-1",
    bucket="b",
    key="incoming/x.csv",
    version="v1",
    split_state=SPLIT,
    rows_total=1000,
    rows_posted=400,
    rows_failed=0,
    rows_rejected=0,
    created_at="2026-12-02T00:00:00.000Z",
    updated_at="2026-12-02T00:00:10.000Z",
    started=0.0,
    finished=None,
    error="",
)


def test_a_job_without_failed_invocations_says_nothing_of_them() -> None:
    assert "invocations failed" not in progress_line(JOB, 10.0)
    assert dict(zip(COLUMNS, row_for(JOB), strict=True))["INV.FAILED"] == "0"


def test_failed_invocations_show_with_their_last_cause() -> None:
    # GIVEN a job two of whose invocations failed
    job = replace(JOB, invocation_failures=2, last_invocation_failure="RetryableError: " + "x" * 200)
    # THEN the progress line counts them and shows the start of the last cause
    line = progress_line(job, 10.0)
    assert line.endswith("  invocations failed 2 (last: RetryableError: " + "x" * 64 + ")")
    # AND so does the status table
    assert dict(zip(COLUMNS, row_for(job), strict=True))["INV.FAILED"] == "2"


def splitting(rows_read: int, source_offset: int, source_bytes: int) -> Job:
    checkpoint = SplitCheckpoint(source_offset, rows_read + 1, 51, 0, ("id",), ",", source_offset)
    return replace(
        JOB, split_state=SPLITTING, rows_total=None, checkpoint=checkpoint, source_bytes=source_bytes
    )


def test_the_total_is_estimated_from_bytes_read_until_the_split_knows_it() -> None:
    # GIVEN a split that has read 5,000 rows in the first 300,000 of 60,000,000 bytes
    job = splitting(5_000, 300_000, 60_000_000)
    # THEN the estimate scales the rows read to the object's size
    assert job.rows_estimate == 1_000_000
    # AND the progress line and the status table mark it as an estimate, with an ETA from it
    line = progress_line(replace(job, rows_posted=2_000), 10.0)
    assert "2000/~1,000,000 rows" in line and "ETA ~4990s" in line
    row = dict(zip(COLUMNS, row_for(replace(job, rows_posted=2_000, started=time.time() - 10)), strict=True))
    assert row["TOTAL"] == "~1,000,000" and row["ETA"].startswith("~")


def test_no_estimate_before_a_checkpoint_and_the_real_count_once_known() -> None:
    assert replace(JOB, split_state=SPLITTING, rows_total=None).rows_estimate is None
    assert "400/?" in progress_line(replace(JOB, split_state=SPLITTING, rows_total=None), 10.0)
    assert JOB.rows_estimate is None and "400/1000 rows" in progress_line(JOB, 10.0)
    # a header-heavy start never estimates fewer rows than were read
    assert splitting(10, 10_000, 10_000).rows_estimate == 10
