"""`fanout run`'s whole process tree (the CLI, the emulator, the workers) holds about the same
memory for a file ten times the size (issue 16): object bodies stream through the emulator, the
upload goes in parts, no row is kept.

What this adds to tests/functional/test_emulator_memory.py (the emulator alone, request by
request): every process of a real run, the splitter's and the workers' included, at N and 10 N.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bench.headline import write_wide_csv
from bench.tree_memory import TreeRun, run_tree
from infra.demo.api import DemoApi

pytestmark = pytest.mark.e2e

# Issue 16: whole-tree peak memory grows at most 1.3 x for 10 x the file.
MAX_GROWTH = 1.3
# 10 MB and 100 MB of 48 KB rows: 200 and 2,000 calls, 17-28 s for both here. Bytes, not rows,
# are what memory would grow with; the tree holds about 440 MB at N (four interpreters), and an
# emulator that holds the object adds far more than 30 % of it at 100 MB: 1.99 x with moto's own
# PUT and GET (infra/local/emulator_objects.py off), 1.09-1.10 x with them streamed, beside
# another test file at load 4-5.
N_MB = 10
ROW_KB = 48
RUN_TIMEOUT_S = 300.0


def run_measured(path: Path, api_url: str) -> TreeRun:
    command = [sys.executable, "-m", "infra.cli", "run", str(path), "--api-url", api_url]
    run = run_tree([*command, "--concurrency", "2", "--threads", "8"], RUN_TIMEOUT_S)
    assert run.returncode == 0, run.stderr[-2000:]
    return run


def described(run: TreeRun) -> str:
    processes = sorted(run.memory.peaks_by_process.items(), key=lambda item: -item[1])
    each = ", ".join(f"{label}: {peak / 1e6:.0f}" for label, peak in processes)
    return f"{run.memory.peak_sum_bytes / 1e6:.0f} MB ({each})"


def test_ten_times_the_file_takes_at_most_the_issues_growth_in_memory(tmp_path: Path) -> None:
    # GIVEN a file of wide rows and one ten times its size
    small, large = tmp_path / "small.csv", tmp_path / "large.csv"
    write_wide_csv(small, N_MB, ROW_KB)
    write_wide_csv(large, 10 * N_MB, ROW_KB)
    with DemoApi(latency_s=(0.0, 0.0)) as api:
        # WHEN the same stack runs each (its whole tree's resident sets summed every 50 ms)
        at_n = run_measured(small, api.url)
        at_10n = run_measured(large, api.url)
    # THEN the tree's peak for the larger grows by at most the issue's 1.3 x, and so does the sum
    # of each process's own peak (the kernel's high-water mark: no spike between samples escapes it)
    seen = f"at N {described(at_n)}; at 10 N {described(at_10n)}"
    growth = at_10n.memory.peak_sum_bytes / at_n.memory.peak_sum_bytes
    assert growth <= MAX_GROWTH, f"{growth:.2f} x: {seen}"
    growth_of_peaks = at_10n.memory.sum_of_peaks_bytes / at_n.memory.sum_of_peaks_bytes
    assert growth_of_peaks <= MAX_GROWTH, f"{growth_of_peaks:.2f} x of the processes' peaks: {seen}"
