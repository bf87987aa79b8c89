"""The `fanout` command."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

from fanout.errors import FanoutError
from infra.commands import dashboard, demo, dlq, drop, local, mapping, redrive, run, status
from infra.run import EXIT_NOT_ATTEMPTED

COMMANDS = (run, demo, local, drop, status, dlq, redrive, mapping, dashboard)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line, exit 2: nothing was attempted."""
        self.exit(EXIT_NOT_ATTEMPTED, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="fanout",
        description="Turn every row of a CSV into an HTTP API call, through S3, SQS and Lambda "
        "workers (or the same code on this machine against an embedded AWS emulator).",
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for module in COMMANDS:
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        code: int = args.execute(args)
    except FanoutError as exc:
        print(f"fanout {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_NOT_ATTEMPTED
    except KeyboardInterrupt:
        print(f"fanout {args.command}: interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
