"""The CLI's number arguments: one rule each, one message each."""

from __future__ import annotations

import argparse

import pytest

from infra.cli.flags import format_metadata, number_above, whole_number
from infra.cli.main import build_parser


def test_whole_numbers_within_their_range() -> None:
    parse = whole_number(2, 1000)
    assert parse("2") == 2 and parse("1000") == 1000
    with pytest.raises(argparse.ArgumentTypeError, match=r"1 is outside 2\.\.1000"):
        parse("1")
    with pytest.raises(argparse.ArgumentTypeError, match="'x' is not a whole number"):
        parse("x")
    with pytest.raises(argparse.ArgumentTypeError, match="0 must be at least 1"):
        whole_number(1)("0")


def test_numbers_above_a_bound_with_or_without_it() -> None:
    assert number_above(0, inclusive=True)("0") == 0.0
    assert number_above(0, inclusive=False)("0.5") == 0.5
    with pytest.raises(argparse.ArgumentTypeError, match="must be above 0"):
        number_above(0, inclusive=False)("0")
    with pytest.raises(argparse.ArgumentTypeError, match="must be at least 0"):
        number_above(0, inclusive=True)("-1")
    with pytest.raises(argparse.ArgumentTypeError, match="is not a number"):
        number_above(0, inclusive=True)("fast")


def test_a_runs_scale_sets_the_template_parameters_the_splitter_and_workers_read() -> None:
    from infra.cli.flags import scale_parameters

    assert scale_parameters("http://127.0.0.1:9/rows", 8, 4) == {
        "ApiUrl": "http://127.0.0.1:9/rows",
        "ThreadsPerWorker": "4",
        "WorkerReservedConcurrency": "8",
    }
    # The template's minimum reserved concurrency is 2; one environment is still what runs.
    assert scale_parameters("http://127.0.0.1:9/rows", 1, 4)["WorkerReservedConcurrency"] == "2"


def test_a_rate_budget_gets_threads_enough_for_its_calls_unless_threads_are_given() -> None:
    from infra.cli.flags import stack_parameters, threads_for

    parser = build_parser()

    def run_args(*flags: str) -> argparse.Namespace:
        return parser.parse_args(["run", "x.csv", "--api-url", "http://127.0.0.1:9/rows", *flags])

    # GIVEN no budget: the template's 8 threads
    assert threads_for(run_args("--concurrency", "8")) == 8
    # WHEN 1,000 calls a second are asked of 8 environments: 100 calls in flight at 100 ms a call
    wide = run_args("--concurrency", "8", "--max-rps", "1000")
    # THEN each posts with 13 threads, and the stack is told so
    assert threads_for(wide) == 13
    assert stack_parameters(wide)["ThreadsPerWorker"] == "13"
    # AND a small budget keeps the default, a user's --threads wins, and the template's bound holds
    assert threads_for(run_args("--concurrency", "8", "--max-rps", "100")) == 8
    assert threads_for(run_args("--concurrency", "8", "--max-rps", "1000", "--threads", "4")) == 4
    assert threads_for(run_args("--concurrency", "2", "--max-rps", "100000")) == 256


def test_threshold_flags_travel_as_the_files_metadata_and_bad_ones_are_refused() -> None:
    parser = build_parser()
    args = parser.parse_args(
        ["drop", "x.csv", "--tolerated-failure-percent", "25", "--tolerated-failure-min-rows", "40"]
    )
    assert format_metadata(args) == {
        "fanout-tolerated-failure-percent": "25",
        "fanout-tolerated-failure-min-rows": "40",
    }
    with pytest.raises(SystemExit) as refused:
        parser.parse_args(["drop", "x.csv", "--tolerated-failure-percent", "101"])
    assert refused.value.code == 2


def test_a_run_records_results_only_when_asked_for_them_or_told_to() -> None:
    from pathlib import Path

    from infra.cli.run_job import RunOptions, run_parameters

    # GIVEN runs with and without --results, and one whose user names ResultsMode
    plain = RunOptions(Path("rows.csv"), "http://127.0.0.1:9/rows", 8, 4)
    wanted = RunOptions(Path("rows.csv"), "http://127.0.0.1:9/rows", 8, 4, results=Path("out.csv"))
    told = RunOptions(
        Path("rows.csv"), "http://127.0.0.1:9/rows", 8, 4, parameters={"ResultsMode": "failures"}
    )
    # THEN without --results nothing is recorded (the stack goes with the run), with it the
    # template's default holds, and a user's own ResultsMode wins either way
    assert run_parameters(plain)["ResultsMode"] == "none"
    assert "ResultsMode" not in run_parameters(wanted)
    assert run_parameters(told)["ResultsMode"] == "failures"
    assert run_parameters(plain)["ThreadsPerWorker"] == "4"
