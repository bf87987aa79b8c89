"""A one-row `fanout run`, from process start to exit: what a user waits for before anything else.

The command runs as a user runs it, a process of its own (which starts the emulator and the
workers' processes, and stops them), against the benchmarks' loopback API answering at once, so
nearly all of its time is the local stack's start and stop. Each run's wall time is measured
from before the process is started until it has been reaped; its CPU time is the user and
system time of the whole process tree (the kernel's accounting of reaped children, taken before
and after), which a loaded machine does not inflate the way it inflates wall time.

`python -m bench.startup [--runs N]` runs it alone; `python -m bench` includes it in its targets.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.report import machine, spread
from infra.demo.job import DemoApiProcess

# Issue 16: a one-row run takes at most 2 s wall, from process start to exit.
TARGET_ONE_ROW_WALL_S = 2.0
DEFAULT_RUNS = 5
RUN_TIMEOUT_S = 120.0


def fanout_command() -> list[str]:
    """`fanout` as installed next to this interpreter, else the same entry point as a module."""
    script = Path(sys.executable).with_name("fanout")
    return [str(script)] if script.exists() else [sys.executable, "-m", "infra.cli"]


def user_environment() -> dict[str, str]:
    """This environment, but bytecode written as a user's interpreter writes it: with
    PYTHONDONTWRITEBYTECODE set (as in some shells here) every process of the run compiled
    this checkout's modules from source, each time (0.3-0.6 s of the run's wall time)."""
    return {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def one_run(command: list[str]) -> dict[str, float]:
    """Wall and whole-tree CPU seconds of one command, which must exit 0."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False, env=user_environment()
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {done.returncode}: {done.stderr.strip()[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3)}


def measure(api_url: str, runs: int = DEFAULT_RUNS) -> dict[str, Any]:
    """`runs` one-row runs after one not counted (it warms the file cache and writes bytecode)."""
    with tempfile.TemporaryDirectory(prefix="fanout-startup-") as tmp:
        source = Path(tmp) / "one.csv"
        source.write_text("id,name\n1,alice\n", encoding="utf-8")
        command = [*fanout_command(), "run", str(source), "--api-url", api_url]
        one_run(command)
        measured = [one_run(command) for _ in range(runs)]
    walls = [m["wall_s"] for m in measured]
    return {
        "runs": measured,
        "wall_s": spread(walls),
        "cpu_s": spread([m["cpu_s"] for m in measured]),
        "target_wall_s": TARGET_ONE_ROW_WALL_S,
        "met": statistics.median(walls) <= TARGET_ONE_ROW_WALL_S,
        "load_average": os.getloadavg(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.startup", description=__doc__)
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS, help="counted runs (one more warms up)")
    args = parser.parse_args(argv)
    print(f"machine: {machine()}", file=sys.stderr)
    with DemoApiProcess((0.0, 0.0), module="bench.api") as api:
        result = measure(api.url, args.runs)
    wall, cpu, load = result["wall_s"], result["cpu_s"], result["load_average"][0]
    print(
        f"one-row fanout run, process start to exit ({args.runs} runs, load {load:.1f}): "
        f"wall median {wall['median']:.2f} s (min {wall['min']:.2f}, max {wall['max']:.2f}); "
        f"CPU of the whole tree median {cpu['median']:.2f} s; "
        f"target <= {TARGET_ONE_ROW_WALL_S:.0f} s wall: {'met' if result['met'] else 'not met'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
