"""fanout demo [--rows N]"""

from __future__ import annotations

import argparse
from typing import Any

from infra.cli.flags import add_scale_flags, positive_int, threads_for
from infra.demo.job import DEMO_ROWS, demo


def register(commands: Any) -> None:
    cmd: argparse.ArgumentParser = commands.add_parser(
        "demo",
        help="a sample file against a built-in demo API",
        description=f"Start a demo API on loopback (30-80 ms a call), generate a sample CSV of "
        f"{DEMO_ROWS} rows, run it through the local stack and print the summary.",
    )
    cmd.add_argument(
        "--rows", type=positive_int, default=DEMO_ROWS, help=f"rows in the sample (default {DEMO_ROWS})"
    )
    add_scale_flags(cmd)
    cmd.set_defaults(execute=execute)


def execute(args: argparse.Namespace) -> int:
    return demo(args.rows, args.concurrency, threads_for(args), args.processes)
