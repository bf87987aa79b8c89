"""fanout redrive [--job JOB] [--max N] [--rate R] [--dry-run]"""

from __future__ import annotations

import argparse
from typing import Any

from infra.cli.flags import number_above, positive_int, stack_command
from infra.ops.dead_letter_access import redrive_for
from infra.ops.redrive import RedriveRequest
from infra.ops.stack_ref import connect


def register(commands: Any) -> None:
    cmd = stack_command(
        commands,
        "redrive",
        execute,
        help="move dead-letter messages back to the work queue",
        description="Move DLQ messages back to the work queue so their rows are tried again; rows "
        "already posted are skipped. Uses StartMessageMoveTask for a whole queue where the endpoint "
        "has it, otherwise moves messages itself, sending each before deleting it.",
    )
    cmd.add_argument("--job", metavar="JOB", help="only this job's messages")
    cmd.add_argument("--max", type=positive_int, metavar="N", help="at most N messages")
    cmd.add_argument(
        "--rate", type=number_above(0, inclusive=False), metavar="R", help="at most R messages a second"
    )
    cmd.add_argument("--dry-run", action="store_true", help="say what would move; move nothing")


def execute(args: argparse.Namespace) -> int:
    request = RedriveRequest(job=args.job, max_messages=args.max, rate=args.rate, dry_run=args.dry_run)
    result = redrive_for(connect(args)).run(request)
    if result.method == "StartMessageMoveTask":
        print("started a message move task from the DLQ to the work queue (StartMessageMoveTask)")
        return 0
    verb = "would move" if request.dry_run else "moved"
    print(
        f"{verb} {result.messages} messages ({result.rows} rows) to the work queue; "
        f"{result.left} left in the DLQ"
    )
    return 0
