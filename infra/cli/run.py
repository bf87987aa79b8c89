"""fanout run FILE --api-url URL [--concurrency N] [--threads N] [--report OUT.json]"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from infra.cli.flags import (
    add_budget_flags,
    add_format_flags,
    add_parameter_flag,
    add_request_flag,
    add_scale_flags,
    add_secret_flag,
    add_threshold_flags,
    format_metadata,
    given_secrets,
    stack_parameters,
    threads_for,
)
from infra.local.emulator import Emulator


def register(commands: Any) -> None:
    cmd: argparse.ArgumentParser = commands.add_parser(
        "run",
        help="run one file through the local stack and report",
        description="Start the local stack, drop FILE into incoming/, run until every row is "
        "posted or in the DLQ, print progress and a summary, write the report, stop. "
        "Exit 0: every row posted; 1: some rows failed or were rejected; 2: nothing attempted.",
    )
    cmd.add_argument("file", type=Path, metavar="FILE", help="the CSV file (header row first)")
    cmd.add_argument("--api-url", required=True, metavar="URL", help="the API each row is POSTed to")
    add_scale_flags(cmd)
    cmd.add_argument("--report", type=Path, metavar="OUT.json", help="write the JSON report here")
    cmd.add_argument(
        "--results",
        type=Path,
        metavar="OUT.csv",
        help="write every row's outcome here (row_number, outcome, http_status, attempts, "
        "latency_ms, reason, captured fields); without it the run records none (ResultsMode none: "
        "the local stack goes with the run)",
    )
    add_request_flag(cmd)
    add_budget_flags(cmd)
    add_parameter_flag(cmd)
    add_secret_flag(cmd)
    add_format_flags(cmd)
    add_threshold_flags(cmd)
    cmd.set_defaults(execute=execute)


def execute(args: argparse.Namespace) -> int:
    # The emulator first: it boots (about a second of CPU) on the other core while this process
    # imports what a run needs (boto3, the local runtime: half a second) and checks its inputs.
    with Emulator() as emulator:
        from infra.cli.request_files import read_request_file
        from infra.cli.run_job import RunOptions, run

        options = RunOptions(
            args.file,
            args.api_url,
            args.concurrency,
            threads_for(args),
            args.report,
            stack_parameters(args),
            format_metadata(args),
            args.processes,
            given_secrets(args),
            args.results,
            read_request_file(args.request) if args.request else None,
        )
        return run(options, emulator=emulator)
