"""The `fanout` command."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from fanout.errors import FanoutError
from infra.demo import DEMO_ROWS, demo
from infra.run import EXIT_NOT_ATTEMPTED, RunOptions, run

# Four workers a core, eight threads each: 64 calls in flight on a 2-core machine, where the
# measured throughput against a 50 ms API stops growing (bench/README.md).
DEFAULT_CONCURRENCY = 4 * (os.cpu_count() or 2)
DEFAULT_THREADS = 8


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line, exit 2: nothing was attempted."""
        self.exit(EXIT_NOT_ATTEMPTED, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="fanout",
        description="Turn every row of a CSV into an HTTP API call, through S3, SQS and Lambda "
        "workers (or the same code on this machine against an embedded AWS emulator).",
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run_cmd = commands.add_parser(
        "run",
        help="run one file through the local stack and report",
        description="Start the local stack, drop FILE into incoming/, run until every row is "
        "posted or in the DLQ, print progress and a summary, write the report, stop. "
        "Exit 0: every row posted; 1: some rows failed or were rejected; 2: nothing attempted.",
    )
    run_cmd.add_argument("file", type=Path, metavar="FILE", help="the CSV file (header row first)")
    run_cmd.add_argument("--api-url", required=True, metavar="URL", help="the API each row is POSTed to")
    _add_scale_flags(run_cmd)
    run_cmd.add_argument("--report", type=Path, metavar="OUT.json", help="write the JSON report here")

    demo_cmd = commands.add_parser(
        "demo",
        help="a sample file against a built-in demo API",
        description=f"Start a demo API on loopback (30-80 ms a call), generate a sample CSV of "
        f"{DEMO_ROWS} rows, run it through the local stack and print the summary.",
    )
    demo_cmd.add_argument(
        "--rows",
        type=_positive,
        default=DEMO_ROWS,
        help=f"rows in the sample (default {DEMO_ROWS})",
    )
    _add_scale_flags(demo_cmd)
    return parser


def _add_scale_flags(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument(
        "--concurrency",
        type=_positive,
        default=DEFAULT_CONCURRENCY,
        metavar="N",
        help="worker invocations at once, within the template's reserved concurrency "
        f"(default {DEFAULT_CONCURRENCY})",
    )
    cmd.add_argument(
        "--threads",
        type=_positive,
        default=DEFAULT_THREADS,
        metavar="N",
        help=f"rows each worker invocation posts at once (default {DEFAULT_THREADS})",
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "run":
            return run(RunOptions(args.file, args.api_url, args.concurrency, args.threads, args.report))
        if args.command == "demo":
            return demo(args.rows, args.concurrency, args.threads)
    except FanoutError as exc:
        print(f"fanout {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_NOT_ATTEMPTED
    except KeyboardInterrupt:
        print(f"fanout {args.command}: interrupted", file=sys.stderr)
        return 130
    raise AssertionError(f"unhandled command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
