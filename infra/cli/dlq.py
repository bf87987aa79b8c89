"""fanout dlq list | show | export: what is in the dead-letter queue, and why."""

from __future__ import annotations

import argparse
import csv
import sys
from collections import Counter
from pathlib import Path
from typing import Any, TextIO

from fanout.contract import ANNOTATION_PREFIX
from fanout.errors import InputError
from infra.cli.flags import command_group, stack_command
from infra.ops.dead_letter_access import dead_letters
from infra.ops.dead_letters import DeadMessage, DeadRow
from infra.ops.stack_ref import connect

# Reason columns appended to an export; the splitter never posts columns with this prefix, so
# a fixed export can be dropped again as it is.
REASON_COLUMNS = tuple(
    ANNOTATION_PREFIX + name for name in ("row", "status", "error", "excerpt", "attempts", "at")
)


def register(commands: Any) -> None:
    actions = command_group(
        commands,
        "dlq",
        help="what is in the dead-letter queue, and why",
        description="Read the dead-letter queue.",
    )
    stack_command(
        actions,
        "list",
        execute_list,
        help="failed rows counted by job and by reason",
        description="Failed rows by job and by reason.",
    )
    show = stack_command(
        actions,
        "show",
        execute_show,
        help="the failed rows, one per line",
        description="The failed rows of one message, or of all.",
    )
    show.add_argument(
        "message", nargs="?", metavar="MESSAGE_ID", help="one DLQ message (see `fanout dlq list`)"
    )
    show.add_argument("--job", metavar="JOB", help="only this job's rows")
    export = stack_command(
        actions,
        "export",
        execute_export,
        help="the failed rows of a job as a CSV to fix and drop again",
        description="Write a job's failed rows as CSV: the original columns, then reason columns "
        f"({', '.join(REASON_COLUMNS)}) that are never posted, so the fixed file can be dropped again.",
    )
    export.add_argument("--job", metavar="JOB", help="the job (needed when the DLQ holds more than one)")
    export.add_argument(
        "--out", type=Path, metavar="FILE.csv", help="where to write (default: standard output)"
    )


def _scan(args: argparse.Namespace) -> list[DeadMessage]:
    return dead_letters(connect(args)).scan()


def _rows(messages: list[DeadMessage], job: str | None = None) -> list[DeadRow]:
    rows = [row for m in messages for row in m.rows()]
    return [r for r in rows if job is None or r.job_id == job]


def execute_list(args: argparse.Namespace) -> int:
    messages = _scan(args)
    rows = _rows(messages)
    unreadable = sum(1 for m in messages if m.message is None)
    print(
        f"{len(messages)} messages, {len(rows)} rows"
        + (f", {unreadable} unreadable messages" if unreadable else "")
    )
    by_job = Counter(r.job_id for r in rows)
    by_reason = Counter(r.reason for r in rows)
    for title, counts in (("JOB", by_job), ("REASON", by_reason)):
        if counts:
            width = max(len(title), *(len(k) for k in counts))
            print(f"\n{title.ljust(width)}  ROWS")
            for key, count in counts.most_common():
                print(f"{key.ljust(width)}  {count}")
    return 0


def execute_show(args: argparse.Namespace) -> int:
    messages = _scan(args)
    if args.message:
        messages = [m for m in messages if m.message_id == args.message]
        if not messages:
            raise InputError(f"no message {args.message} in the DLQ")
    if not args.job:
        for dead in (m for m in messages if m.message is None):
            print(f"message {dead.message_id}: unreadable ({dead.unreadable_reason or 'no reason given'})")
    for row in _rows(messages, args.job):
        f = row.failure
        print(
            f"{row.job_id} row {row.row_number}: {row.reason} status={f.get('status')} "
            f"attempts={f.get('attempts')} at={f.get('at')} message={row.message_id}\n"
            f"  values: {row.values}\n  response: {f.get('excerpt', '')!r}"
        )
    return 0


def execute_export(args: argparse.Namespace) -> int:
    rows = _rows(_scan(args), args.job)
    jobs = sorted({r.job_id for r in rows})
    if len(jobs) > 1:
        raise InputError(f"the DLQ holds rows of several jobs: give --job ({', '.join(jobs)})")
    if args.out:
        with args.out.open("w", encoding="utf-8", newline="") as handle:
            write_export(rows, handle)
        print(f"{len(rows)} rows -> {args.out}", file=sys.stderr)
    else:
        write_export(rows, sys.stdout)
    return 0


def write_export(rows: list[DeadRow], out: TextIO) -> None:
    writer = csv.writer(out)
    if not rows:
        return
    columns = list(rows[0].values)
    writer.writerow(columns + list(REASON_COLUMNS))
    for row in sorted(rows, key=lambda r: r.row_number):
        f = row.failure
        reasons = [
            row.row_number,
            f.get("status") or "",
            f.get("error", ""),
            f.get("excerpt", ""),
            f.get("attempts", ""),
            f.get("at", ""),
        ]
        writer.writerow([row.values[c] for c in columns] + reasons)
