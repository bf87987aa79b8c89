"""`fanout demo`: a sample file against the built-in demo API, start to finish."""

from __future__ import annotations

import csv
import json
import random
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any, TextIO

from fanout.errors import FanoutError
from infra.cli.run_job import RunOptions, run
from infra.demo.api import READY_PREFIX

DEMO_ROWS = 20_000
STATS_TIMEOUT_S = 5.0

_CITIES = ["Tokyo", "Lisbon", "São Paulo", "Nairobi", "Oslo", "Montréal", "Zürich", "Pune"]
_NOTES = [
    "",
    "first order",
    'said "hello"',
    "two lines:\nsecond line",
    "comma, inside",
    "ünïcödé ✓",
]


def write_sample_csv(path: Path, rows: int, seed: int = 7) -> None:
    """Rows with the content that trips naive parsers: quotes, commas, newlines, non-ASCII."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "name", "email", "city", "amount", "note"])
        for n in range(1, rows + 1):
            writer.writerow(
                [
                    n,
                    f"Customer {n}",
                    f"customer{n}@example.com",
                    rng.choice(_CITIES),
                    f"{rng.uniform(1, 500):.2f}",
                    rng.choice(_NOTES),
                ]
            )


class DemoApiProcess:
    """The demo API in its own process, so it does not share an interpreter with the workers."""

    def __init__(
        self,
        latency_ms: tuple[float, float] = (30.0, 80.0),
        module: str = "infra.demo.api",
        args: tuple[str, ...] = (),
    ) -> None:
        self._latency_ms = latency_ms
        self._module = module  # any module with the same command line and ready line
        self._args = args  # the module's own options
        self._process: subprocess.Popen[str] | None = None
        self.url = ""

    def __enter__(self) -> DemoApiProcess:
        low, high = self._latency_ms
        self._process = subprocess.Popen(
            [sys.executable, "-m", self._module, "--latency-ms", str(low), str(high), *self._args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line.startswith(READY_PREFIX):
            self.__exit__()
            raise FanoutError("the demo API did not start")
        self.url = line[len(READY_PREFIX) :].strip()
        return self

    def stats(self) -> dict[str, Any]:
        stats_url = self.url.rsplit("/", 1)[0] + "/stats"
        with urllib.request.urlopen(stats_url, timeout=STATS_TIMEOUT_S) as response:
            data: dict[str, Any] = json.load(response)
        return data

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None


def demo(
    rows: int,
    concurrency: int,
    threads: int,
    processes: int | None = None,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    with tempfile.TemporaryDirectory(prefix="fanout-demo-") as tmp, DemoApiProcess() as api:
        sample = Path(tmp) / "customers.csv"
        write_sample_csv(sample, rows)
        print(
            f"demo: {rows} rows -> {api.url} (30-80 ms a call), {concurrency} workers x {threads} threads",
            file=err,
        )
        code = run(RunOptions(sample, api.url, concurrency, threads, processes=processes), out=out, err=err)
        stats = api.stats()
    print(
        f"demo API: {stats['rows_accepted']} rows accepted, {stats['duplicates']} duplicates, "
        f"{stats['calls']} calls",
        file=out,
    )
    return code
