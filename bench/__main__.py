"""`python -m bench` (`make bench`): Fanout's throughput next to C / L and the simple approach.

Everything runs on loopback: the API (bench/api.py) and the AWS emulator in child processes,
Fanout's workers and splitter and the baseline in this process. Figures that compare are ratios
of measurements taken side by side in this run; each comparison is repeated `--repeat` times
and reported as median, min and max.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import protection, request_cpu, startup
from bench.aws_model import estimate
from bench.profile import summarize
from bench.report import machine, plot_curve, spread, table, write_json
from bench.scenarios import Throughput, baseline_run, fanout_run, profile_fanout, shape_for, split_only
from infra.demo.job import DemoApiProcess, write_sample_csv
from infra.local.template import load_template, parameter_values

LATENCY_S = 0.050
STORY_LATENCY_MS = (30.0, 80.0)
TARGET_IN_FLIGHT = 64
# The targets of issue 7.
TARGET_LIMIT_SHARE = 0.9
TARGET_CPU_RATIO = 0.4
TARGET_SPLIT_RATIO = 20.0
# Peak at 3N rows over peak at N rows: "flat". A first, smaller file goes before them: the first
# rows through a fresh splitter raise its peak by a fixed amount (measured: 2.5 MB after 20,000
# rows, 3.2 MB after 100,000 and after 300,000), which says nothing about growth with the file.
TARGET_MEMORY_GROWTH = 1.25
# Issue 18: writing every row's results (ResultsMode all, the default) costs at most 10% of the
# rate of the same run with ResultsMode none.
TARGET_RESULTS_SHARE = 0.9
DEFAULT_RESULTS = Path(__file__).parent / "results"
# Curve points run at most this many rows.
CURVE_MAX_ROWS = 48_000


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the end-to-end file")
    parser.add_argument(
        "--baseline-rows", type=int, default=20_000, help="rows the baseline posts (a rate, so fewer)"
    )
    parser.add_argument("--repeat", type=int, default=2, help="side-by-side repetitions")
    parser.add_argument("--curve", default="8,16,32,64,128,256", help="calls in flight for the curve")
    parser.add_argument(
        "--curve-seconds", type=float, default=8.0, help="about how long each point runs, at least"
    )
    parser.add_argument(
        "--curve-rounds", type=int, default=5, help="invocations per execution environment a point runs"
    )
    parser.add_argument(
        "--spec-rows", type=int, default=20_000, help="rows each side of the request spec CPU figure posts"
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, one repetition (a smoke run)")
    parser.add_argument("--out", type=Path, default=DEFAULT_RESULTS, help="where JSON, PNG and profile go")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.baseline_rows, args.repeat, args.spec_rows = 10_000, 5_000, 1, 5_000
        args.curve, args.curve_seconds, args.curve_rounds = "8,64,256", 4.0, 1
    return args


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _row(t: Throughput) -> dict[str, Any]:
    return {
        "approach": t.approach,
        "in_flight": t.in_flight,
        "rows": t.rows,
        "posted": t.posted,
        "duration_s": round(t.duration_s, 3),
        "rows_per_s": round(t.rows_per_s, 1),
        "cpu_s": round(t.cpu_s, 3),
        "cpu_us_per_row": round(t.cpu_us_per_row, 1),
        "cpu_by_thread_group_s": {k: round(v, 3) for k, v in t.cpu_by_group.items()},
    }


def end_to_end(csv_path: Path, api_url: str, args: argparse.Namespace) -> dict[str, Any]:
    runs: list[dict[str, Any]] = []
    limit = TARGET_IN_FLIGHT / LATENCY_S
    for n in range(args.repeat):
        _say(f"end to end {n + 1}/{args.repeat}: baseline, {args.baseline_rows} rows at C={TARGET_IN_FLIGHT}")
        base = baseline_run(csv_path, api_url, TARGET_IN_FLIGHT, args.baseline_rows)
        _say(f"end to end {n + 1}/{args.repeat}: fanout run, {args.rows} rows at C={TARGET_IN_FLIGHT}")
        # ResultsMode all named: without --results, `fanout run` records no results.
        fan = fanout_run(csv_path, api_url, TARGET_IN_FLIGHT, {"ResultsMode": "all"})
        _say(f"end to end {n + 1}/{args.repeat}: fanout run without results (ResultsMode none)")
        unrecorded = fanout_run(csv_path, api_url, TARGET_IN_FLIGHT, {"ResultsMode": "none"})
        runs.append(
            {
                "baseline": _row(base),
                "fanout": _row(fan),
                "fanout_without_results": _row(unrecorded),
                "results_on_over_off_rate": fan.rows_per_s / unrecorded.rows_per_s,
                "fanout_share_of_limit": fan.rows_per_s / limit,
                "fanout_over_baseline_rate": fan.rows_per_s / base.rows_per_s,
                "fanout_over_baseline_cpu_per_row": fan.cpu_us_per_row / base.cpu_us_per_row,
            }
        )
    return {
        "limit_rows_per_s": limit,
        "runs": runs,
        **{
            key: spread([r[key] for r in runs])
            for key in (
                "fanout_share_of_limit",
                "fanout_over_baseline_rate",
                "fanout_over_baseline_cpu_per_row",
                "results_on_over_off_rate",
            )
        },
        "fanout_rows_per_s": spread([r["fanout"]["rows_per_s"] for r in runs]),
        "baseline_rows_per_s": spread([r["baseline"]["rows_per_s"] for r in runs]),
        "fanout_cpu_us_per_row": spread([r["fanout"]["cpu_us_per_row"] for r in runs]),
        "baseline_cpu_us_per_row": spread([r["baseline"]["cpu_us_per_row"] for r in runs]),
    }


def splitting(tmp: Path, rows: int, post_rate: float) -> dict[str, Any]:
    _say(f"splitter alone: {rows} rows, then memory at {rows // 5}, {rows} and {3 * rows} rows")
    small, large, larger = tmp / "split-small.csv", tmp / "split-large.csv", tmp / "split-larger.csv"
    write_sample_csv(small, rows // 5, seed=11)
    write_sample_csv(large, rows, seed=13)
    write_sample_csv(larger, 3 * rows, seed=29)
    (timed,) = split_only([large], trace_memory=False, in_flight=TARGET_IN_FLIGHT)
    traced = split_only([small, large, larger], trace_memory=True, in_flight=TARGET_IN_FLIGHT)
    growth = (traced[2].peak_bytes or 0) / max(1, traced[1].peak_bytes or 0)
    return {
        "rows": timed.rows,
        "messages": timed.messages,
        "duration_s": round(timed.duration_s, 3),
        "split_rows_per_s": round(timed.rows_per_s, 1),
        "post_rows_per_s": round(post_rate, 1),
        "split_over_post": timed.rows_per_s / post_rate if post_rate else 0.0,
        "peak_bytes": {str(m.rows): m.peak_bytes for m in traced},
        "memory_growth": growth,
    }


def rows_per_invocation() -> int:
    """Rows one worker invocation gets with the template's defaults (RowsPerMessage x BatchSize)."""
    values = parameter_values(load_template(), {"ApiUrl": "http://127.0.0.1:9/rows"})
    return int(values["RowsPerMessage"]) * int(values["BatchSize"])


def curve_rows(in_flight: int, args: argparse.Namespace) -> int:
    """Enough rows for --curve-rounds invocations per execution environment, so each point measures
    the steady state rather than start-up and the last round (measured: 8 s worth of rows at
    C = 64 is one round of 1,000-row invocations, and read 0.57 of C / L against 0.83 at 100,000)."""
    environments, _ = shape_for(in_flight)
    wanted = args.curve_rounds * rows_per_invocation() * environments
    return int(min(CURVE_MAX_ROWS, max(in_flight / LATENCY_S * args.curve_seconds, wanted)))


def curve(tmp: Path, api_url: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    points = []
    for in_flight in (int(c) for c in args.curve.split(",")):
        rows = curve_rows(in_flight, args)
        path = tmp / f"curve-{rows}.csv"
        if not path.exists():
            write_sample_csv(path, rows, seed=17)
        _say(f"curve: C={in_flight}, {rows} rows, baseline then fanout")
        # The baseline is a rate from its first row: curve-seconds' worth of rows tells it.
        base = baseline_run(path, api_url, in_flight, int(in_flight / LATENCY_S * args.curve_seconds))
        fan = fanout_run(path, api_url, in_flight)
        points.append(
            {
                "in_flight": in_flight,
                "rows": rows,
                "limit_rows_per_s": in_flight / LATENCY_S,
                "fanout_rows_per_s": round(fan.rows_per_s, 1),
                "baseline_rows_per_s": round(base.rows_per_s, 1),
                "fanout_share_of_limit": round(fan.rows_per_s * LATENCY_S / in_flight, 3),
                "fanout_cpu_us_per_row": round(fan.cpu_us_per_row, 1),
                "baseline_cpu_us_per_row": round(base.cpu_us_per_row, 1),
            }
        )
    return points


def story_latency(tmp: Path, rows: int) -> dict[str, Any]:
    """The story's 30-80 ms API at C = 64: the per-row CPU the AWS model starts from."""
    path = tmp / "story.csv"
    write_sample_csv(path, rows, seed=19)
    with DemoApiProcess(STORY_LATENCY_MS, module="bench.api") as api:
        _say(f"30-80 ms API: {rows} rows at C={TARGET_IN_FLIGHT}, baseline then fanout")
        base = baseline_run(path, api.url, TARGET_IN_FLIGHT, None)
        fan = fanout_run(path, api.url, TARGET_IN_FLIGHT)
    return {"baseline": _row(base), "fanout": _row(fan)}


def profile(tmp: Path, api_url: str, in_flight: int, rows: int, out_dir: Path) -> dict[str, Any]:
    path = tmp / "profile.csv"
    write_sample_csv(path, rows, seed=23)
    _say(f"profile: fanout run at C={in_flight}, {rows} rows, sampled by py-spy")
    measured, raw = profile_fanout(path, api_url, in_flight, out_dir / "profile.txt")
    summary = summarize(raw.read_text() if raw.exists() else "")
    return {
        "in_flight": in_flight,
        "rows_per_s": round(measured.rows_per_s, 1),
        "samples": summary.samples,
        "components": summary.components,
        "functions": summary.functions,
        "collapsed_stacks": str(raw),
    }


STORY_SECONDS = 258.0


def aws_model(cpu_s_per_row: float) -> list[dict[str, Any]]:
    """One million rows at reserved concurrency 300 and a 30-80 ms API, next to the story's 258 s."""
    cases = [
        ("1 GB, 8 threads, API holds its latency", {"memory_mb": 1024}),
        ("256 MB, 8 threads, API holds its latency", {"memory_mb": 256}),
        ("1 GB, 32 threads, API holds its latency", {"memory_mb": 1024, "threads": 32}),
        ("1 GB, 8 threads, API no faster past 300 in flight", {"memory_mb": 1024, "api_max_in_flight": 300}),
        (
            "same API, reserved concurrency 38 (304 in flight)",
            {"memory_mb": 1024, "api_max_in_flight": 300, "reserved_concurrency": 38},
        ),
    ]
    out = []
    for name, kwargs in cases:
        e = estimate(1_000_000, sum(STORY_LATENCY_MS) / 2000, cpu_s_per_row, **kwargs)
        out.append(
            {
                "case": name,
                "seconds": round(e.seconds, 1),
                "story_seconds": STORY_SECONDS,
                "rows_per_s_per_environment": round(e.rows_per_s_per_environment, 1),
                "cpu_share_used": round(e.cpu_share_used, 3),
                "gb_seconds": round(e.gb_seconds),
                "cost_usd": round(e.cost_usd, 4),
            }
        )
    return out


def targets(
    e2e: dict[str, Any],
    split: dict[str, Any],
    spec_cpu: dict[str, Any],
    protected: dict[str, Any],
    start: dict[str, Any],
) -> list[list[Any]]:
    share = e2e["fanout_share_of_limit"]["median"]
    rate = e2e["fanout_over_baseline_rate"]["median"]
    cpu = e2e["fanout_over_baseline_cpu_per_row"]["median"]
    results_share = e2e["results_on_over_off_rate"]["median"]
    return [
        [
            f"rows/s over C/L at C={TARGET_IN_FLIGHT}",
            f">= {TARGET_LIMIT_SHARE}",
            share,
            share >= TARGET_LIMIT_SHARE,
        ],
        ["rows/s over baseline", ">= 1.0", rate, rate >= 1.0],
        [
            "rows/s with results over without",
            f">= {TARGET_RESULTS_SHARE}",
            results_share,
            results_share >= TARGET_RESULTS_SHARE,
        ],
        ["worker CPU/row over baseline", f"<= {TARGET_CPU_RATIO}", cpu, cpu <= TARGET_CPU_RATIO],
        [
            "split rate over post rate",
            f">= {TARGET_SPLIT_RATIO:.0f}",
            split["split_over_post"],
            split["split_over_post"] >= TARGET_SPLIT_RATIO,
        ],
        [
            "splitter peak memory, 3N over N rows",
            f"<= {TARGET_MEMORY_GROWTH}",
            split["memory_growth"],
            split["memory_growth"] <= TARGET_MEMORY_GROWTH,
        ],
        [
            "worker CPU/row, typical request spec over default",
            f"<= {request_cpu.TARGET_SPEC_CPU_RATIO}",
            spec_cpu["ratio_median"],
            spec_cpu["ratio_median"] <= request_cpu.TARGET_SPEC_CPU_RATIO,
        ],
        # Issue 21 (bench/protection.py): each a measured pair, not a single number.
        *[[t["target"], t["goal"], t["measured"], t["met"]] for t in protected["targets"]],
        [
            "one-row fanout run, start to exit (s wall)",
            f"<= {startup.TARGET_ONE_ROW_WALL_S:.0f}",
            start["wall_s"]["median"],
            start["met"],
        ],
    ]


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    started = time.time()
    results: dict[str, Any] = {
        "machine": machine(),
        "latency_ms": LATENCY_S * 1000,
        "options": {**vars(args), "out": str(args.out)},
    }
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(started))
    with tempfile.TemporaryDirectory(prefix="fanout-bench-") as tmp_name:
        tmp = Path(tmp_name)
        main_csv = tmp / "rows.csv"
        write_sample_csv(main_csv, args.rows)
        latency_ms = (LATENCY_S * 1000, LATENCY_S * 1000)
        with DemoApiProcess(latency_ms, module="bench.api") as api:
            results["end_to_end"] = e2e = end_to_end(main_csv, api.url, args)
            results["curve"] = points = curve(tmp, api.url, args)
            top = max(p["in_flight"] for p in points)
            results["profile"] = profile(tmp, api.url, top, max(2_000, args.rows // 5), args.out)
            results["api_stats_50ms"] = api.stats()
        results["split"] = split = splitting(tmp, args.rows, e2e["fanout_rows_per_s"]["median"])
        results["story_latency"] = story_latency(tmp, max(2_000, args.rows // 5))
        _say(f"request spec CPU: {args.spec_rows} rows each side, default request then a typical spec")
        with DemoApiProcess((0.0, 0.0), module="bench.api") as fast:
            results["request_spec_cpu"] = spec_cpu = request_cpu.measure(
                fast.url, args.spec_rows, max(3, args.repeat)
            )
            _say("start-up: one-row fanout run, process start to exit")
            results["startup"] = start = startup.measure(fast.url)
        _say("protection (bench/protection.py): budget under two limiters, chaos, start to exit")
        results["protection"] = protected = protection.measure(
            protection.QUICK if args.quick else protection.FULL, set(protection.FIGURES)
        )
    results["aws_model"] = aws_model(results["story_latency"]["fanout"]["cpu_us_per_row"] / 1e6)
    results["targets"] = [
        {
            "target": t[0],
            "goal": t[1],
            "measured": round(t[2], 3) if isinstance(t[2], float) else t[2],
            "met": t[3],
        }
        for t in targets(e2e, split, spec_cpu, protected, start)
    ]
    results["machine"]["load_average_at_end"] = os.getloadavg()
    results["elapsed_s"] = round(time.time() - started, 1)
    png = args.out / "throughput-vs-c.png"
    plot_curve(png, LATENCY_S, points)
    out_json = args.out / f"bench-{stamp}.json"
    write_json(out_json, results)
    write_json(args.out / "latest.json", results)
    _print(results, png, out_json)
    return 0


def _print(results: dict[str, Any], png: Path, out_json: Path) -> None:
    e2e = results["end_to_end"]
    print(
        f"\nmachine: {results['machine']['cpus']} CPUs {results['machine']['cpu_model']}, "
        f"load {results['machine']['load_average_at_start'][0]:.1f} -> "
        f"{results['machine']['load_average_at_end'][0]:.1f}"
    )
    print(f"\nend to end at C={TARGET_IN_FLIGHT}, 50 ms fixed (C/L = {e2e['limit_rows_per_s']:.0f} rows/s)")
    print(
        table(
            ["approach", "rows", "rows/s", "share of C/L", "CPU us/row"],
            [
                [
                    r[k]["approach"],
                    r[k]["posted"],
                    r[k]["rows_per_s"],
                    r[k]["rows_per_s"] / e2e["limit_rows_per_s"],
                    r[k]["cpu_us_per_row"],
                ]
                for r in e2e["runs"]
                for k in ("baseline", "fanout", "fanout_without_results")
            ],
        )
    )
    print("\ncurve (50 ms fixed)")
    print(
        table(
            [
                "C",
                "rows",
                "C/L",
                "fanout rows/s",
                "share",
                "baseline rows/s",
                "fanout us/row",
                "baseline us/row",
            ],
            [
                [
                    p["in_flight"],
                    p["rows"],
                    p["limit_rows_per_s"],
                    p["fanout_rows_per_s"],
                    p["fanout_share_of_limit"],
                    p["baseline_rows_per_s"],
                    p["fanout_cpu_us_per_row"],
                    p["baseline_cpu_us_per_row"],
                ]
                for p in results["curve"]
            ],
        )
    )
    prof = results["profile"]
    print(f"\nprofile at C={prof['in_flight']} ({prof['samples']} on-CPU samples): busiest components")
    print(table(["component", "share"], prof["components"][:8]))
    print(table(["function", "share"], prof["functions"][:10]))
    split = results["split"]
    print(
        f"\nsplitter alone: {split['split_rows_per_s']:.0f} rows/s, {split['messages']} messages; "
        f"peak memory {split['peak_bytes']}"
    )
    story = results["story_latency"]
    print(
        f"\n30-80 ms API at C={TARGET_IN_FLIGHT}: fanout {story['fanout']['rows_per_s']:.0f} rows/s "
        f"({story['fanout']['cpu_us_per_row']:.0f} us CPU/row), "
        f"baseline {story['baseline']['rows_per_s']:.0f} rows/s "
        f"({story['baseline']['cpu_us_per_row']:.0f} us CPU/row)"
    )
    print(f"\nAWS model: 1M rows, reserved concurrency 300, 30-80 ms API (story: {STORY_SECONDS:.0f} s)")
    print(
        table(
            ["case", "seconds", "rows/s/env", "CPU share", "GB-s", "USD"],
            [
                [
                    m["case"],
                    m["seconds"],
                    m["rows_per_s_per_environment"],
                    m["cpu_share_used"],
                    m["gb_seconds"],
                    m["cost_usd"],
                ]
                for m in results["aws_model"]
            ],
        )
    )
    spec = results["request_spec_cpu"]
    print(
        f"\nrequest spec (PUT /customers/{{id}}, five typed columns, a nested body): worker CPU/row "
        f"{spec['ratio_median']:.2f} x the default request's (runs: "
        + ", ".join(f"{r['typical_us_per_row']:.0f}/{r['default_us_per_row']:.0f} us" for r in spec["runs"])
        + ")"
    )
    print("\ntargets (medians of side-by-side ratios)")
    print(table(["target", "goal", "measured", "met"], [list(t.values()) for t in results["targets"]]))
    print(f"\nwrote {out_json} and {png}")


if __name__ == "__main__":
    sys.exit(main())
