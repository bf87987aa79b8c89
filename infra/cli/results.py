"""fanout results JOB [--out F] [--format csv|jsonl] [--failed-only]: every row's outcome."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from fanout.errors import InputError
from fanout.jobs import JobStore
from infra.cli.flags import stack_command
from infra.ops.results_file import FORMATS, check_has_results, read_results, write_results
from infra.ops.stack_ref import connect


def register(commands: Any) -> None:
    cmd = stack_command(
        commands,
        "results",
        execute,
        help="a finished job's outcome for every row",
        description="The job's results file (results/<job>.csv in the stack's bucket): one record "
        "per row in row order, with its outcome (posted, failed, rejected), HTTP status, attempts, "
        "latency and reason, then a column per captured field. Written when the job finishes, and "
        "again after a redrive.",
    )
    cmd.add_argument("job", metavar="JOB", help="a job id (see `fanout status`)")
    cmd.add_argument("--out", type=Path, metavar="F", help="where to write (default: standard output)")
    cmd.add_argument("--format", choices=FORMATS, default="csv", help="csv (default) or JSON lines")
    cmd.add_argument("--failed-only", action="store_true", help="only the rows that were not posted")


def execute(args: argparse.Namespace) -> int:
    stack = connect(args)
    job = JobStore(stack.session.client("dynamodb"), stack.outputs["JobsTableName"]).get(args.job)
    if job is None:
        raise InputError(f"no job {args.job} in {stack.where}")
    check_has_results(job, stack.outputs["ResultsMode"])
    header, records = read_results(stack.session.client("s3"), job)
    if args.out is None:
        write_results(header, records, sys.stdout, args.format, args.failed_only)
        return 0
    with args.out.open("w", encoding="utf-8", newline="") as out:
        written = write_results(header, records, out, args.format, args.failed_only)
    print(f"{written} rows -> {args.out}", file=sys.stderr)
    return 0
