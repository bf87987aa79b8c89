"""Flags and argument types more than one command uses.

Light to import (no boto3, no moto): every command registers its flags from here before it
knows which command runs, and `fanout run` starts the emulator right after parsing them.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fanout.errors import InputError
from fanout.formats import DELIMITERS, ENCODINGS, HEADERS, METADATA_PREFIX, QUOTES
from fanout.thresholds import MIN_ROWS_METADATA, PERCENT_METADATA, parse_min_rows, parse_percent
from infra.local.cpus import DEFAULT_PROCESSES
from infra.local.secrets import read_secret_flag
from infra.local.template import load_template

# Four workers a core, eight threads each: 64 calls in flight on a 2-core machine.
DEFAULT_CONCURRENCY = 4 * (os.cpu_count() or 2)
# The template's: a local run posts with as many threads per invocation as a deployed stack.
_THREADS_PARAMETER = load_template()["Parameters"]["ThreadsPerWorker"]
DEFAULT_THREADS = int(_THREADS_PARAMETER["Default"])
MAX_THREADS = int(_THREADS_PARAMETER["MaxValue"])
# The call time a rate budget's default threads are sized for (the story's API took 30-80 ms).
# Little's law: R calls a second of L seconds each need R x L calls in flight, and an environment
# that has no thread free when its pacing slot comes loses the slot. Measured at --max-rps 1000
# against a 30-80 ms API (bench/README.md): 64 calls in flight held 0.85-0.89 R, 104 0.93 R.
BUDGET_CALL_S = 0.1


def stack_command(
    commands: Any, name: str, execute: Callable[[argparse.Namespace], int], *, help: str, description: str
) -> argparse.ArgumentParser:
    """`fanout NAME`, run by `execute` on the stack its flags name (--endpoint-url, --stack, --region)."""
    # Here, not at the top: infra.ops.stack_ref brings boto3, which `fanout run` (no stack flags)
    # must not import before it has launched its emulator.
    from infra.ops.stack_ref import add_stack_flags

    cmd: argparse.ArgumentParser = commands.add_parser(name, help=help, description=description)
    add_stack_flags(cmd)
    cmd.set_defaults(execute=execute)
    return cmd


def command_group(commands: Any, name: str, *, help: str, description: str) -> Any:
    """`fanout NAME ACTION`: a command whose actions are commands of their own; one must be given."""
    group: argparse.ArgumentParser = commands.add_parser(name, help=help, description=description)
    return group.add_subparsers(dest=f"{name}_command", required=True)


def whole_number(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number from `low` (to `high`, if given)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if high is not None and not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is outside {low}..{high}")
        if value < low:
            raise argparse.ArgumentTypeError(f"{value} must be at least {low}")
        return value

    return parse


def number_above(low: float, *, inclusive: bool) -> Callable[[str], float]:
    """An argparse type: a number above `low` (or equal to it, when `inclusive`)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value < low or (value == low and not inclusive):
            bound = "must be at least" if inclusive else "must be above"
            raise argparse.ArgumentTypeError(f"{value} {bound} {low:g}")
        return value

    return parse


positive_int = whole_number(1)
non_negative_float = number_above(0, inclusive=True)


def scale_parameters(api_url: str, concurrency: int, threads: int) -> dict[str, str]:
    """The template parameters a local run's scale decides.

    The local event source mapping's concurrency is `concurrency`, so the workers take their share
    of the budget from it (the template's minimum for it is 2).
    """
    return {
        "ApiUrl": api_url,
        "ThreadsPerWorker": str(threads),
        "WorkerReservedConcurrency": str(max(2, concurrency)),
    }


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
        metavar="N",
        help=f"rows each worker invocation posts at once (default {DEFAULT_THREADS}; with --max-rps R, at "
        f"least enough for R calls of {BUDGET_CALL_S * 1000:.0f} ms: R x {BUDGET_CALL_S:g} / --concurrency)",
    )
    cmd.add_argument(
        "--processes",
        type=positive_int,
        metavar="N",
        help="local processes the worker invocations are spread over, each with its own "
        f"interpreter as on Lambda; 1 runs them all in this one (default {DEFAULT_PROCESSES}, one per CPU; "
        "for a small file at most one per work message it makes)",
    )


def threads_for(args: argparse.Namespace) -> int:
    """--threads, or the default: the template's, or more where a rate budget needs them."""
    if args.threads:
        return int(args.threads)
    max_rps = getattr(args, "max_rps", None) or 0.0
    needed = math.ceil(max_rps * BUDGET_CALL_S / max(1, args.concurrency))
    return int(min(MAX_THREADS, max(DEFAULT_THREADS, needed)))


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


def secret_flag(text: str) -> tuple[str, str]:
    try:
        return read_secret_flag(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--secret ")) from None


def add_secret_flag(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument(
        "--secret",
        type=secret_flag,
        action="append",
        default=[],
        metavar="NAME=@FILE|NAME=env:VAR",
        help="a secret the request spec's auth: names, put into the local stack's Secrets Manager "
        "from a file or an environment variable (repeatable; never the value itself)",
    )


def given_secrets(args: argparse.Namespace) -> dict[str, str]:
    """The --secret flags by NAME (the last one given wins)."""
    return dict(args.secret)


def add_format_flags(cmd: argparse.ArgumentParser) -> None:
    """How the file is written, when it differs from the stack's CsvDelimiter/CsvQuote/... parameters.

    The choices travel with the file as S3 object metadata (x-amz-meta-fanout-*), as they would
    from any other uploader.
    """
    group = cmd.add_argument_group("file format (default: the stack's Csv* parameters)")
    group.add_argument("--delimiter", choices=list(DELIMITERS), help="field delimiter; auto sniffs it")
    group.add_argument("--quote", choices=list(QUOTES), help="quote character")
    group.add_argument("--encoding", choices=list(ENCODINGS), help="text encoding")
    group.add_argument(
        "--header", choices=list(HEADERS), help="first-row names the columns; none: all rows are data"
    )


def add_threshold_flags(cmd: argparse.ArgumentParser) -> None:
    """The file's failure threshold, when it differs from the stack's ToleratedFailure* parameters
    (sent with the file as x-amz-meta-fanout-tolerated-failure-* metadata)."""
    group = cmd.add_argument_group("failure threshold (default: the stack's ToleratedFailure* parameters)")
    group.add_argument(
        "--tolerated-failure-percent",
        type=_checked(parse_percent),
        metavar="P",
        help="halt the job once more than P%% of its rows failed (0-100; 100: never)",
    )
    group.add_argument(
        "--tolerated-failure-min-rows",
        type=_checked(parse_min_rows),
        metavar="N",
        help="... but not before N rows have an outcome",
    )


def _checked(parse: Callable[[str], object]) -> Callable[[str], str]:
    """An argparse type that checks a value as the splitter will, and keeps its text for metadata."""

    def check(text: str) -> str:
        try:
            parse(text)
        except InputError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return text.strip()

    return check


def format_metadata(args: argparse.Namespace) -> dict[str, str]:
    """The format and threshold flags given, as the file's fanout-* metadata."""
    given = {name: getattr(args, name) for name in ("delimiter", "quote", "encoding", "header")}
    metadata = {METADATA_PREFIX + name: value for name, value in given.items() if value is not None}
    if getattr(args, "tolerated_failure_percent", None) is not None:
        metadata[PERCENT_METADATA] = args.tolerated_failure_percent
    if getattr(args, "tolerated_failure_min_rows", None) is not None:
        metadata[MIN_ROWS_METADATA] = args.tolerated_failure_min_rows
    return metadata


def add_budget_flags(cmd: argparse.ArgumentParser) -> None:
    group = cmd.add_argument_group("API budget for the whole stack (default: none)")
    group.add_argument(
        "--max-in-flight",
        type=positive_int,
        metavar="N",
        help="at most N calls in flight (template MaxCallsInFlight)",
    )
    group.add_argument(
        "--max-rps",
        type=non_negative_float,
        metavar="R",
        help="at most R calls a second (template MaxCallsPerSecond)",
    )


def stack_parameters(args: argparse.Namespace) -> dict[str, str]:
    """Template parameters from the scale and budget flags, then any --param overrides."""
    parameters = scale_parameters(args.api_url, args.concurrency, threads_for(args))
    if args.max_in_flight:
        parameters["MaxCallsInFlight"] = str(args.max_in_flight)
    if args.max_rps:
        parameters["MaxCallsPerSecond"] = str(args.max_rps)
    return {**parameters, **dict(args.param)}


FILE_REQUEST_HELP = (
    "a request spec (YAML or JSON) saying how each row becomes an HTTP request; "
    "checked against the file's columns, then uploaded under requests/ (default: the stack's "
    "DefaultRequest, else a POST of each row's strings)"
)


def add_request_flag(cmd: argparse.ArgumentParser, help: str = FILE_REQUEST_HELP) -> None:
    cmd.add_argument("--request", type=Path, metavar="SPEC", help=help)
