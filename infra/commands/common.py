"""Flags and argument types more than one command uses."""

from __future__ import annotations

import argparse
import os

# Four workers a core, eight threads each: 64 calls in flight on a 2-core machine.
DEFAULT_CONCURRENCY = 4 * (os.cpu_count() or 2)
DEFAULT_THREADS = 8


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def add_scale_flags(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument(
        "--concurrency",
        type=positive_int,
        default=DEFAULT_CONCURRENCY,
        metavar="N",
        help="worker invocations at once, within the template's reserved concurrency "
        f"(default {DEFAULT_CONCURRENCY})",
    )
    cmd.add_argument(
        "--threads",
        type=positive_int,
        default=DEFAULT_THREADS,
        metavar="N",
        help=f"rows each worker invocation posts at once (default {DEFAULT_THREADS})",
    )


def parameter_override(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=VALUE (a template.yaml parameter)")
    return name, value


def add_parameter_flag(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument(
        "--param",
        type=parameter_override,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a template.yaml parameter for the local stack (repeatable), "
        "e.g. --param RequestTimeoutSeconds=2",
    )
