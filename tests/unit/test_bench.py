"""The benchmark's own pieces that compute: thread CPU parsing, profile summary, table."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.cpu import ProcessCpu, group_of, parse_stat, process_group_of
from bench.profile import component_of, summarize
from bench.report import spread, table
from bench.request_cpu import COLUMNS, TYPICAL_SPEC, sample_rows
from bench.scenarios import shape_for
from fanout.rendering import Endpoint, RequestRenderer
from fanout.request_spec import parse_spec


def test_thread_stat_is_read_after_a_command_name_with_spaces_and_parentheses() -> None:
    # GIVEN a /proc task stat line whose command name holds ") (" (fields 14, 15 and 22 matter)
    fields = ["S"] + [str(n) for n in range(4, 53)]
    fields[14 - 3], fields[15 - 3], fields[22 - 3] = "120", "30", "9999"
    line = "4242 (python3 ) (x) " + " ".join(fields)
    # THEN user + system ticks and the start time come from the right fields
    assert parse_stat(line) == (9999, 150)


def test_threads_are_grouped_by_the_names_the_local_runtime_gives_them() -> None:
    assert group_of("WorkerFunction-3") == "worker"
    assert group_of("post_12") == "worker"
    assert group_of("SplitterFunction-0") == "splitter"
    assert group_of("baseline_0") == "baseline"
    assert group_of("MainThread") == "other"


def test_child_processes_are_grouped_by_command_line() -> None:
    assert process_group_of("python -m infra.local.emulator --port 0") == "emulator"
    spawned = "python -B -c from multiprocessing.spawn import spawn_main; spawn_main(tracker_fd=8)"
    assert process_group_of(spawned) == "worker"
    assert process_group_of("python -c from multiprocessing.resource_tracker import main") == "other"


def test_a_child_process_cpu_is_counted_in_its_group() -> None:
    # GIVEN a child process that burns CPU, started while the sampler runs
    with ProcessCpu() as processes:
        burn = "import time\nend = time.process_time() + 0.5\nwhile time.process_time() < end: pass\n"
        busy = subprocess.run([sys.executable, "-c", burn + "time.sleep(0.5)"], check=True)
    # THEN its CPU is counted (as "other": it is neither the emulator nor a worker)
    assert busy.returncode == 0
    assert processes.seconds().get("other", 0.0) >= 0.3


def test_profile_samples_go_to_the_innermost_meaningful_component() -> None:
    # GIVEN collapsed stacks: one in JSON under the worker, one in a lock under the worker's submit
    collapsed = "\n".join(
        [
            "thread (0x1);run (threading.py:1);post (/w/worker/poster.py:9);dumps (/j/json/__init__.py:2) 3",
            "thread (0x1);run (threading.py:1);_start (/w/worker/core.py:9);acquire (threading.py:5) 1",
        ]
    )
    summary = summarize(collapsed)
    # THEN the JSON sample is JSON, the lock sample is the worker's (a lock alone says little)
    assert summary.samples == 4
    assert summary.components == [("JSON", 0.75), ("Fanout worker", 0.25)]
    assert summary.functions[0] == ("dumps (json/__init__.py)", 0.75)
    assert component_of(["run (threading.py:1)"]) == "thread pool"


def test_c_calls_in_flight_are_shaped_as_invocations_of_eight_threads() -> None:
    assert shape_for(64) == (8, 8)
    assert shape_for(256) == (32, 8)
    assert shape_for(4) == (1, 4)


def test_spread_and_table() -> None:
    assert spread([3.0, 1.0, 2.0]) == {"median": 2.0, "min": 1.0, "max": 3.0}
    assert table(["a", "bb"], [[1, 0.5], [100, 12.345]]).splitlines() == [
        "a    bb",
        "---  ----",
        "  1  0.50",
        "100    12",
    ]


def test_aws_model_ramps_like_the_event_source_mapping_and_respects_the_api_cap() -> None:
    from bench.aws_model import estimate

    # GIVEN 8 threads at 50 ms and little CPU per row: 160 rows/s per environment
    quick = estimate(1_000_000, 0.05, 0.0001, reserved_concurrency=300, threads=8)
    assert quick.rows_per_s_per_environment == 160
    # THEN the job ends while SQS is still adding environments (5, then 300 more a minute)
    assert 40 < quick.seconds < 60
    # AND an API that is no faster past 300 calls in flight makes it take rows / (300 / L)
    capped = estimate(1_000_000, 0.05, 0.0001, api_max_in_flight=300)
    assert 1_000_000 / (300 / 0.05) < capped.seconds < 1_000_000 / (300 / 0.05) + 10
    # AND too little memory makes the CPU the limit
    starved = estimate(1_000, 0.05, 0.01, memory_mb=128)
    assert starved.rows_per_s_per_environment < 160 and starved.cpu_share_used == 1.0


def test_curve_points_run_whole_rounds_of_invocations_per_environment() -> None:
    from bench.__main__ import _args, curve_rows, rows_per_invocation

    # GIVEN the template's defaults: 100 rows a message, 10 messages an invocation
    assert rows_per_invocation() == 1000
    args = _args([])
    # THEN each point runs five invocations per environment (C / 8 environments), capped
    assert curve_rows(8, args) == 5_000
    assert curve_rows(64, args) == 40_000
    assert curve_rows(256, args) == 48_000
    # AND --quick runs one round
    assert curve_rows(64, _args(["--quick"])) == 8_000


def test_the_typical_request_spec_is_the_issues_and_renders_a_sample_row() -> None:
    spec = parse_spec(TYPICAL_SPEC)
    # a URL placeholder, five typed columns, a nested body
    assert spec.url.names == ("id",)
    assert len([t for t in spec.columns.values() if t != "string"]) == 5
    assert any(isinstance(v, dict) for v in TYPICAL_SPEC["body"].values())
    renderer = RequestRenderer(spec, COLUMNS, Endpoint.parse("http://127.0.0.1:1/rows"))
    request = renderer.render("j", sample_rows(3)[2])
    assert request.target == "/rows/customers/0000003"
    assert json.loads(request.body or b"")["customer"] == {
        "id": "0000003",
        "name": "Customer 3",
        "age": 23,
        "active": True,
    }


def test_the_protection_figures_are_judged_against_the_issues_targets() -> None:
    from bench.protection import sustained, targets

    # the middle 80% of the admitted calls: 10 a second, start-up and tail left out
    assert sustained([0.0, 5.0] + [5.0 + n / 10 for n in range(1, 97)] + [20.0, 30.0]) == pytest.approx(10.0)
    results = {
        "budget": [
            {"rate": 300.0, "limiter": "window", "share_of_rate": 0.93, "calls_429_pct": 0.2},
            {"rate": 100.0, "limiter": "bucket", "share_of_rate": 0.95, "calls_429_pct": 1.5},
        ],
        "chaos": {"rate_share": 0.8, "faults": {"rows_lost": 0, "rows_posted_twice": 1}},
        "start_to_exit": {"rows": 100_000, "share_of_limit": 0.91, "exit_code": 0},
    }
    assert [t["met"] for t in targets(results)] == [True, False, False, True]


def test_wide_rows_file_is_about_its_size_with_one_line_a_row(tmp_path: Path) -> None:
    from bench.headline import write_wide_csv

    path = tmp_path / "wide.csv"
    rows = write_wide_csv(path, 1.0, row_kb=48)
    lines = path.read_text().splitlines()
    assert lines[0] == "id,note" and len(lines) == rows + 1 and lines[-1].startswith(f"{rows},x")
    assert 0.95e6 <= path.stat().st_size <= 1.0e6
