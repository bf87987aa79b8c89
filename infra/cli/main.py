"""The `fanout` command."""

from __future__ import annotations

import argparse
import importlib
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
from infra.cli.exit_codes import EXIT_NOT_ATTEMPTED, EXIT_SERVICE_FAILED

# Each command's module, imported only when that command runs (all of them for `fanout --help`):
# importing every command's dependencies cost each command about half a second of CPU before it
# began, and every worker process a `fanout run` spawned paid it again (multiprocessing re-runs
# the `fanout` script in a spawned child).
COMMANDS = {
    "run": "infra.cli.run",
    "preview": "infra.cli.preview",
    "demo": "infra.cli.demo",
    "local": "infra.cli.local",
    "drop": "infra.cli.drop",
    "status": "infra.cli.status",
    "cancel": "infra.cli.cancel",
    "results": "infra.cli.results",
    "dlq": "infra.cli.dlq",
    "redrive": "infra.cli.redrive",
    "throttle": "infra.cli.mapping",
    "pause": "infra.cli.mapping",
    "resume": "infra.cli.mapping",
    "dashboard": "infra.cli.dashboard",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line, exit 2: nothing was attempted."""
        self.exit(EXIT_NOT_ATTEMPTED, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser for `argv`'s command (every command's, when argv names none of them)."""
    parser = _Parser(
        prog="fanout",
        description="Turn every row of a CSV into an HTTP API call, through S3, SQS and Lambda "
        "workers (or the same code on this machine against an embedded AWS emulator).",
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for module in _modules_for(sys.argv[1:] if argv is None else argv):
        importlib.import_module(module).register(commands)
    return parser


def _modules_for(argv: Sequence[str]) -> list[str]:
    named = COMMANDS.get(next((word for word in argv if not word.startswith("-")), ""))
    return [named] if named else list(dict.fromkeys(COMMANDS.values()))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser(argv).parse_args(argv)
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
