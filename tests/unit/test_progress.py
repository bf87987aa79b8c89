"""The progress line and `fanout status` row of a job."""

from __future__ import annotations

from dataclasses import replace

from fanout.jobs import SPLIT, Job
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
