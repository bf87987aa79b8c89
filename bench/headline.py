"""The story's headline on this machine (issue 16): `fanout run` as a user runs it, timed from process
start to exit, with the whole process tree's peak memory (the CLI, the emulator, the workers).

    .venv/bin/python -m bench.headline million [--rows 1000000] [--concurrency 16] [--threads 32]
    .venv/bin/python -m bench.headline memory [--sizes-mb 100 1000] [--row-kb 48] [--concurrency 2]

`million`: a file of `--rows` rows against the 30-80 ms API at concurrency x threads calls in
flight (512 by default); done when it exits 0 with every row posted once in at most 300 s.
`memory`: one run per file size against an API that answers at once; done when the peak grows
at most 1.3 x for 10 x the file and stays under 600 MB for 1 GB; `--row-kb` makes wide rows (a
1 GB file of narrow rows is ten million calls: hours here), bytes being what memory could grow
with. Wall figures are only worth
reading on a quiet machine: the load average at start and end is reported beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.report import machine
from bench.split_memory import write_csv
from bench.tree_memory import TreeRun, run_tree
from infra.demo.job import DemoApiProcess, write_sample_csv

STORY_LATENCY_MS = (30.0, 80.0)
# Issue 16's "done when".
TARGET_MILLION_WALL_S = 300.0
TARGET_MEMORY_GROWTH = 1.3
TARGET_PEAK_1GB_BYTES = 600 * 1_000_000
RUN_TIMEOUT_S = 3600.0
DEFAULT_OUT = Path(__file__).parent / "results"
MB = 1_000_000


def fanout_run(csv_path: Path, api_url: str, concurrency: int, threads: int, report: Path) -> TreeRun:
    command = [
        sys.executable,
        "-m",
        "infra.cli",
        "run",
        str(csv_path),
        "--api-url",
        api_url,
        "--concurrency",
        str(concurrency),
        "--threads",
        str(threads),
        "--report",
        str(report),
    ]
    return run_tree(command, RUN_TIMEOUT_S)


def _measured(run: TreeRun, report: Path) -> dict[str, Any]:
    job = json.loads(report.read_text()) if report.exists() else {}
    return {
        "exit_code": run.returncode,
        "wall_s_start_to_exit": round(run.wall_s, 2),
        "job_duration_s": job.get("duration_s"),
        "rows_total": job.get("rows_total"),
        "rows_posted": job.get("rows_posted"),
        "peak_tree_bytes": run.memory.peak_sum_bytes,
        "sum_of_process_peaks_bytes": run.memory.sum_of_peaks_bytes,
        "peaks_by_process_bytes": run.memory.peaks_by_process,
        "load_average_at_end": os.getloadavg(),
        "stderr_tail": run.stderr[-600:],
    }


def million(rows: int, concurrency: int, threads: int, tmp: Path) -> dict[str, Any]:
    source = tmp / "million.csv"
    write_sample_csv(source, rows, seed=31)
    with DemoApiProcess(STORY_LATENCY_MS, module="bench.api") as api:
        started_load = os.getloadavg()
        run = fanout_run(source, api.url, concurrency, threads, tmp / "million-report.json")
        result = _measured(run, tmp / "million-report.json")
        calls = api.stats()
    met = (
        result["exit_code"] == 0
        and result["rows_posted"] == rows
        and calls.get("duplicates", 0) == 0
        and result["wall_s_start_to_exit"] <= TARGET_MILLION_WALL_S
    )
    return {
        "rows": rows,
        "file_bytes": source.stat().st_size,
        "in_flight": concurrency * threads,
        "latency_ms": STORY_LATENCY_MS,
        "load_average_at_start": started_load,
        **result,
        "api": calls,
        "target": f"exit 0, every row posted once, <= {TARGET_MILLION_WALL_S:.0f} s start to exit",
        "met": met,
    }


def write_wide_csv(path: Path, size_mb: float, row_kb: int) -> int:
    """A file of about `size_mb` MB whose rows are an id and a note of `row_kb` KB; its rows."""
    note = "x" * (row_kb * 1000)
    rows = int(size_mb * MB) // (len(note) + 8)
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write("id,note\n")
        for n in range(rows):
            handle.write(f"{n + 1},{note}\n")
    return rows


def memory(sizes_mb: list[float], row_kb: int, concurrency: int, threads: int, tmp: Path) -> dict[str, Any]:
    runs = []
    with DemoApiProcess((0.0, 0.0), module="bench.api") as api:
        for size in sizes_mb:
            source = tmp / f"memory-{size}.csv"
            rows = write_wide_csv(source, size, row_kb) if row_kb else write_csv(source, size)
            report = tmp / f"memory-{size}-report.json"
            started_load = os.getloadavg()
            run = fanout_run(source, api.url, concurrency, threads, report)
            runs.append(
                {
                    "size_mb": size,
                    "row_kb": row_kb,
                    "concurrency": concurrency,
                    "threads": threads,
                    "rows": rows,
                    "load_average_at_start": started_load,
                    **_measured(run, report),
                }
            )
            source.unlink()
    smallest = runs[0]["peak_tree_bytes"] or 1
    for r in runs:
        r["peak_over_smallest"] = round(r["peak_tree_bytes"] / smallest, 3)
    return {"runs": runs, "targets": _memory_targets(runs)}


def _memory_targets(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    targets = []
    first = runs[0]
    for r in runs[1:]:
        if r["size_mb"] >= 10 * first["size_mb"]:
            targets.append(
                {
                    "target": f"peak at {r['size_mb']} MB over {first['size_mb']} MB",
                    "goal": f"<= {TARGET_MEMORY_GROWTH}",
                    "measured": r["peak_over_smallest"],
                    "met": r["peak_over_smallest"] <= TARGET_MEMORY_GROWTH,
                }
            )
        if r["size_mb"] >= 1000:
            targets.append(
                {
                    "target": f"peak at {r['size_mb']} MB",
                    "goal": f"< {TARGET_PEAK_1GB_BYTES // MB} MB",
                    "measured": round(r["peak_tree_bytes"] / MB, 1),
                    "met": r["peak_tree_bytes"] < TARGET_PEAK_1GB_BYTES,
                }
            )
    return targets


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.headline", description=__doc__.splitlines()[0])
    scenarios = parser.add_subparsers(dest="scenario", required=True)
    one = scenarios.add_parser("million", help="a million rows at 30-80 ms, C = 512")
    one.add_argument("--rows", type=int, default=1_000_000)
    one.add_argument("--concurrency", type=int, default=16)
    one.add_argument("--threads", type=int, default=32)
    mem = scenarios.add_parser("memory", help="whole-tree peak memory against file size")
    mem.add_argument("--sizes-mb", type=float, nargs="+", default=[100.0, 1000.0])
    mem.add_argument("--row-kb", type=int, default=0, help="rows of an id and a note this wide (0: narrow)")
    mem.add_argument("--concurrency", type=int, default=8)
    mem.add_argument("--threads", type=int, default=8)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the JSON goes")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    results: dict[str, Any] = {"machine": machine(), "scenario": args.scenario}
    with tempfile.TemporaryDirectory(prefix="fanout-headline-") as tmp_name:
        tmp = Path(tmp_name)
        if args.scenario == "million":
            results["million"] = million(args.rows, args.concurrency, args.threads, tmp)
        else:
            results["memory"] = memory(args.sizes_mb, args.row_kb, args.concurrency, args.threads, tmp)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"headline-{args.scenario}-{stamp}.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({k: v for k, v in results.items() if k != "machine"}, indent=2))
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
