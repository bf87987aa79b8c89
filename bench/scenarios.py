"""What the benchmark runs: Fanout end to end, the baseline, the splitter alone, a profile.

Each function runs one measurement and returns plain numbers; `bench.__main__` puts them side
by side. The workers, the splitter and the baseline run in this process (the emulator and the
API in child processes), so `ThreadCpu` can tell their CPU apart.
"""

from __future__ import annotations

import io
import json
import subprocess
import tempfile
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.baseline import post_file
from bench.cpu import ProcessCpu, ThreadCpu
from fanout.jobs import JobStore
from fanout.metrics import MetricsTarget
from fanout.s3events import ObjectRef
from fanout.settings import SplitterSettings
from infra.cli.flags import scale_parameters
from infra.cli.run_job import RunOptions, drop_file, run
from infra.local.emulator import Emulator
from infra.local.endpoint import use_endpoint
from infra.local.stack import local_stack
from splitter.core import Splitter

THREADS_PER_WORKER = 8


@dataclass(frozen=True)
class Throughput:
    """One run: rows posted, how long, and the CPU its own threads used."""

    approach: str
    in_flight: int
    rows: int
    posted: int
    duration_s: float
    cpu_s: float
    cpu_by_group: dict[str, float]

    @property
    def rows_per_s(self) -> float:
        return self.posted / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def cpu_us_per_row(self) -> float:
        return 1e6 * self.cpu_s / self.posted if self.posted else 0.0


def shape_for(in_flight: int) -> tuple[int, int]:
    """Concurrency x threads for C calls in flight: Lambda-shaped, 8 threads an invocation."""
    threads = min(THREADS_PER_WORKER, in_flight)
    return max(1, in_flight // threads), threads


def fanout_run(
    csv_path: Path, api_url: str, in_flight: int, parameters: dict[str, str] | None = None
) -> Throughput:
    """`fanout run` in this process (with these template parameters); CPU is what the worker
    threads used."""
    concurrency, threads = shape_for(in_flight)
    with tempfile.TemporaryDirectory(prefix="fanout-bench-") as tmp:
        report_path = Path(tmp) / "report.json"
        options = RunOptions(csv_path, api_url, concurrency, threads, report_path, dict(parameters or {}))
        with ThreadCpu() as cpu, ProcessCpu() as processes:
            run(options, out=io.StringIO(), err=io.StringIO())
        report = json.loads(report_path.read_text())
    # Threads of this process (the splitter) and child processes (the workers' environments, the
    # emulator), by group.
    by_group = cpu.seconds()
    for group, seconds in processes.seconds().items():
        by_group[group] = by_group.get(group, 0.0) + seconds
    return Throughput(
        "fanout",
        concurrency * threads,
        int(report["rows_total"]),
        int(report["rows_posted"]),
        float(report["duration_s"]),
        by_group.get("worker", 0.0),
        by_group,
    )


def baseline_run(csv_path: Path, api_url: str, in_flight: int, limit: int | None) -> Throughput:
    with ThreadCpu() as cpu:
        result = post_file(csv_path, api_url, in_flight, limit)
    by_group = cpu.seconds()
    return Throughput(
        "baseline",
        in_flight,
        result.rows,
        result.posted,
        result.duration_s,
        by_group.get("baseline", 0.0),
        by_group,
    )


@dataclass(frozen=True)
class SplitMeasure:
    rows: int
    duration_s: float
    messages: int
    peak_bytes: int | None

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.duration_s if self.duration_s > 0 else 0.0


class _Discard:
    def publish(self, documents: list[dict[str, Any]]) -> None:
        return None


def split_only(csv_paths: list[Path], trace_memory: bool, in_flight: int) -> list[SplitMeasure]:
    """The splitter core alone, unpaced, on each file; with `trace_memory`, its peak allocation.

    The stack is scaled as the run at `in_flight` it is compared with."""
    measures = []
    with Emulator() as emulator:
        session = use_endpoint(emulator.endpoint_url)
        concurrency, threads = shape_for(in_flight)
        parameters = scale_parameters("http://127.0.0.1:9/rows", concurrency, threads)
        stack = local_stack(session, parameters, create=True)
        env = stack.functions["SplitterFunction"].environment
        settings = SplitterSettings.from_env(env)
        jobs = JobStore(session.client("dynamodb"), settings.jobs_table)
        target = MetricsTarget.from_env(env, _Discard())  # metrics are not what is measured here
        splitter = Splitter(session.client("s3"), session.client("sqs"), jobs, settings, target)
        for path in csv_paths:
            bucket, key, version = drop_file(session, stack, path)
            if trace_memory:
                tracemalloc.start()
            started = time.monotonic()
            result = splitter.split(ObjectRef(bucket, key, version, ""))
            duration = time.monotonic() - started
            peak = None
            if trace_memory:
                peak = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
            measures.append(SplitMeasure(result.rows_total, duration, result.messages, peak))
    return measures


def profile_fanout(csv_path: Path, api_url: str, in_flight: int, out: Path) -> tuple[Throughput, Path]:
    """A Fanout run sampled by py-spy (on-CPU samples only), as collapsed stacks: this process,
    the workers' processes and the emulator's."""
    import os
    import sys

    spy = Path(sys.executable).with_name("py-spy")
    out.parent.mkdir(parents=True, exist_ok=True)
    log = out.with_suffix(".log").open("w")
    recorder = subprocess.Popen(
        [
            str(spy),
            "record",
            "--pid",
            str(os.getpid()),
            "--rate",
            "25",
            "--format",
            "raw",
            "--output",
            str(out),
            "--gil",
            "--nonblocking",
            "--subprocesses",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    time.sleep(1.0)  # let it attach
    try:
        measured = fanout_run(csv_path, api_url, in_flight)
    finally:
        recorder.send_signal(2)  # SIGINT: py-spy writes what it has and stops
        recorder.wait(timeout=60)
        log.close()
    return measured, out
