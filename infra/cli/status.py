"""fanout status [JOB]: jobs and their progress."""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from typing import Any

from fanout.errors import InputError
from fanout.jobs import SPLIT_FAILED, SPLITTING, Job, JobStore
from fanout.reports import report_key
from infra.cli.flags import stack_command
from infra.cli.progress import eta_text, rate_and_eta, total_text
from infra.ops.stack_ref import connect

COLUMNS = (
    *("JOB", "STATE", "TOTAL", "POSTED", "FAILED", "REJECTED", "CANCELLED", "ROWS/S", "ETA"),
    *("THROTTLED", "INV.FAILED", "STARTED"),
)


def register(commands: Any) -> None:
    cmd = stack_command(
        commands,
        "status",
        execute,
        help="jobs and their progress",
        description="Each job's rows total, posted, failed, rejected, cancelled, rate, ETA and state; "
        "with JOB, that job alone in detail.",
    )
    cmd.add_argument("job", nargs="?", metavar="JOB", help="a job id (see `fanout status`)")


def _elapsed(job: Job) -> float:
    if job.finished is not None:
        return max(0.001, job.finished - job.started)
    if job.is_finished:
        ended = datetime.fromisoformat(job.updated_at.replace("Z", "+00:00")).timestamp()
        return max(0.001, ended - job.started)
    return max(0.001, time.time() - job.started)


def row_for(job: Job) -> tuple[str, ...]:
    rate, eta = rate_and_eta(job, _elapsed(job))
    return (
        job.job_id,
        job.state,
        total_text(job),
        str(job.rows_posted),
        str(job.rows_failed),
        str(job.rows_rejected),
        str(job.rows_cancelled),
        f"{rate:.0f}",
        "-" if job.is_finished or job.stopped else eta_text(job, eta),
        str(job.calls_throttled),
        str(job.invocation_failures),
        job.created_at,
    )


def table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in [COLUMNS, *rows]) for i in range(len(COLUMNS))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in [COLUMNS, *rows]
    )


def request_text(job: Job) -> str:
    """Which request spec the job's rows are sent with: the object version it pinned."""
    if job.request is not None:
        return str(job.request)
    # (a record written before the default request was pinned too has nothing to say it was)
    if job.request_pinned or job.split_state not in (SPLITTING, SPLIT_FAILED):
        return "the default request (each row's strings POSTed to the API URL)"
    if job.split_state == SPLITTING:
        return "not read yet (the split has not started)"
    return "none (the split failed before it read one)"


def execute(args: argparse.Namespace) -> int:
    stack = connect(args)
    jobs = JobStore(stack.session.client("dynamodb"), stack.outputs["JobsTableName"])
    if args.job:
        job = jobs.get(args.job)
        if job is None:
            raise InputError(f"no job {args.job} in {stack.where}")
        print(table([row_for(job)]))
        print(f"source: s3://{job.bucket}/{job.key} (version {job.version})")
        print(f"request: {request_text(job)}")
        if job.error:
            print(f"error: {job.error}")
        if job.last_invocation_failure:
            print(
                f"invocations failed: {job.invocation_failures}, each retried within seconds; "
                f"the last: {job.last_invocation_failure}"
            )
        if job.stopped:
            print(f"{job.state}: {job.control_reason} (`fanout resume {job.job_id}` continues it)")
        if job.threshold is not None:
            print(
                f"failure threshold: halts once {job.threshold.min_rows} rows have an outcome and more "
                f"than {job.threshold.percent:g}% of them failed"
            )
        if job.report_until is not None:
            print(f"report: being written, results first (the claim holds until {_at(job.report_until)})")
        if job.reported_at:
            print(f"report: s3://{job.bucket}/{report_key(job.job_id)} (written {job.reported_at})")
        if job.results_key:
            print(
                f"results: s3://{job.bucket}/{job.results_key} (written {job.results_at}; "
                f"`fanout results {job.job_id}`)"
            )
        return 0
    listed = jobs.list()
    print(table([row_for(job) for job in listed]) if listed else f"no jobs yet in {stack.where}")
    return 0


def _at(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
