"""`fanout run`'s whole process tree (the CLI, the emulator, the workers) holds about the same memory
for a file ten times the size: object bodies stream, uploads go in parts."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bench.tree_memory import run_tree
from infra.demo.api import DemoApi

pytestmark = pytest.mark.e2e

# Issue 16: whole-tree peak memory grows at most 1.3 x for 10 x the file.
MAX_GROWTH = 1.3
# Wide rows keep the run short: bytes, not rows, are what the memory would grow with.
ROW_BYTES = 48_000
N_BYTES = 6_000_000


def write_wide_csv(path: Path, size: int) -> int:
    rows = size // ROW_BYTES
    note = "x" * (ROW_BYTES - 10)
    with path.open("w", encoding="utf-8") as handle:
        handle.write("id,note\n")
        for n in range(rows):
            handle.write(f"{n},{note}\n")
    return rows


def peak_tree_bytes(path: Path, api_url: str) -> int:
    command = [sys.executable, "-m", "infra.cli", "run", str(path), "--api-url", api_url]
    run = run_tree([*command, "--concurrency", "2", "--threads", "8"], timeout_s=300)
    assert run.returncode == 0, run.stderr[-2000:]
    return run.memory.peak_sum_bytes


def test_ten_times_the_file_takes_at_most_a_third_more_memory(tmp_path: Path) -> None:
    small, large = tmp_path / "small.csv", tmp_path / "large.csv"
    write_wide_csv(small, N_BYTES)
    write_wide_csv(large, 10 * N_BYTES)
    with DemoApi(latency_s=(0.0, 0.0)) as api:
        # WHEN the same stack runs a file and one ten times its size
        at_n = peak_tree_bytes(small, api.url)
        at_10n = peak_tree_bytes(large, api.url)
    # THEN the process tree's peak grows by at most the 1.3 x
    assert at_10n <= MAX_GROWTH * at_n, f"{at_n / 1e6:.0f} MB at N, {at_10n / 1e6:.0f} MB at 10 N"
