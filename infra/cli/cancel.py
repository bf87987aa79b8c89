"""fanout cancel JOB [--reason TEXT]: stop a job's rows; `fanout resume JOB` continues it."""

from __future__ import annotations

import argparse
import getpass
from typing import Any

from infra.cli.flags import stack_command
from infra.ops.job_control import cancel
from infra.ops.stack_ref import connect


def register(commands: Any) -> None:
    cmd = stack_command(
        commands,
        "cancel",
        execute,
        help="stop posting a job's rows",
        description="Cancel a job: within seconds its rows stop being posted (running invocations "
        "finish the calls in flight and start no new ones), the splitter stops splitting it, other "
        "jobs go on. Rows not posted end as cancelled; `fanout resume JOB` posts them later.",
    )
    cmd.add_argument("job", metavar="JOB", help="a job id (see `fanout status`)")
    cmd.add_argument("--reason", metavar="TEXT", help="why, as the job's status and events will say")


def execute(args: argparse.Namespace) -> int:
    reason = args.reason or f"cancelled by {getpass.getuser()} with fanout cancel"
    job = cancel(connect(args), args.job, reason)
    print(
        f"job {job.job_id} {job.state}: {job.control_reason}. Its rows stop within seconds; "
        f"`fanout status {job.job_id}` shows them counted as cancelled, `fanout resume {job.job_id}` "
        "continues it."
    )
    return 0
