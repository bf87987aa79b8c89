"""The `fanout` command."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import FrameType
from typing import NoReturn

from botocore.exceptions import BotoCoreError, ClientError

from fanout.errors import FanoutError
from infra.cli import (
    cancel,
    dashboard,
    demo,
    dlq,
    drop,
    local,
    mapping,
    preview,
    redrive,
    results,
    run,
    status,
)
from infra.cli.exit_codes import EXIT_NOT_ATTEMPTED, EXIT_SERVICE_FAILED

COMMANDS = (run, preview, demo, local, drop, status, cancel, results, dlq, redrive, mapping, dashboard)


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
        with _terminate_as_interrupt():
            code: int = args.execute(args)
    except FanoutError as exc:
        print(f"fanout {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_NOT_ATTEMPTED
    except (ClientError, BotoCoreError) as exc:
        # Whatever call a command makes, a failure it does not handle is one line, not a traceback;
        # botocore's text names the operation and the code, or the endpoint it could not reach.
        print(f"fanout {args.command}: error: AWS call failed: {exc}", file=sys.stderr)
        return EXIT_SERVICE_FAILED
    except KeyboardInterrupt:
        print(f"fanout {args.command}: interrupted", file=sys.stderr)
        return 130
    return code


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (`kill PID`, a service manager) stops a command the way Ctrl-C does.

    Its default action ends the process on the spot: the emulator and the workers' processes
    it started were then left to notice on their own, and the run's report was never written.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
