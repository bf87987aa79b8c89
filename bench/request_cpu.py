"""Worker CPU per row with a typical request spec over the default request (issue 17's target).

Both sides run in this process, one after the other and repeated, through the worker's own
rendering and posting path (worker/poster.py over worker/api_connections.py) against the
benchmarks' loopback API in its own process. Each posting thread's CPU time (time.thread_time)
is summed over its rows, so the figure is the worker's cost of a row, whatever else the machine
is doing; the ratio of the two sides, measured in the same run, is what the target is about.

`python -m bench.request_cpu [--rows N] [--repeat R]` runs it alone.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fanout.contract import Row
from fanout.rendering import RequestRenderer
from fanout.request_spec import DEFAULT_REQUEST, parse_spec
from infra.demo.job import DemoApiProcess
from worker.api_connections import ApiConnections
from worker.poster import RowPoster
from worker.responses import RetryPolicy
from worker.throttle import AdaptiveLimiter, Budget

TARGET_SPEC_CPU_RATIO = 1.2
THREADS = 8
# Each repetition alternates the two sides this many times, in chunks of its rows: on a machine
# whose load changes by the second, both sides then see the same conditions.
CHUNKS = 10
COLUMNS = ("id", "name", "region", "age", "score", "active", "visits", "tags", "address.city")
# The typical spec: a URL placeholder, five typed columns, a nested body.
TYPICAL_SPEC: dict[str, Any] = {
    "method": "PUT",
    "url": "/customers/{id}",
    "columns": {
        "age": "integer",
        "score": "number",
        "active": "boolean",
        "visits": "integer",
        "tags": "json",
    },
    "empty": "null",
    "body": {
        "customer": {"id": "{id}", "name": "{name}", "age": "{age}", "active": "{active}"},
        "stats": {"score": "{score}", "visits": "{visits}"},
        "tags": "{tags}",
        "address": {"city": "{address.city}"},
        "source": "fanout {region}",
    },
}


def sample_rows(rows: int) -> list[Row]:
    return [
        Row(
            n,
            (
                f"{n:07d}",
                f"Customer {n}",
                "eu-west",
                str(20 + n % 60),
                f"{n % 1000}.{n % 7}",
                "yes" if n % 2 else "no",
                str(n % 300),
                json.dumps(["a", n % 5]),
                "Paris",
            ),
        )
        for n in range(1, rows + 1)
    ]


def cpu_seconds(poster: RowPoster, renderer: RequestRenderer, rows: list[Row]) -> float:
    """Posting-thread CPU seconds spent sending every row as the renderer's spec says."""

    def post(row: Row) -> float:
        started = time.thread_time()
        result = poster.post(renderer, None, "bench-job", row, lambda: 60.0)
        if not result.posted:
            raise RuntimeError(f"row {row.number} was not posted: {result.failure}")
        return time.thread_time() - started

    with ThreadPoolExecutor(THREADS, thread_name_prefix="post") as pool:
        return sum(pool.map(post, rows))


def measure(api_url: str, rows: int, repeat: int) -> dict[str, Any]:
    poster = RowPoster(
        ApiConnections(api_url, 10.0),
        RetryPolicy(attempt_limit=1),
        AdaptiveLimiter(Budget(0, 0.0, 1, THREADS)),
    )
    default = RequestRenderer(DEFAULT_REQUEST, COLUMNS, poster.endpoint)
    typical = RequestRenderer(parse_spec(TYPICAL_SPEC), COLUMNS, poster.endpoint)
    sample = sample_rows(rows)
    step = max(1, rows // CHUNKS)
    chunks = [sample[i : i + step] for i in range(0, rows, step)]
    cpu_seconds(poster, default, chunks[0])  # warm the connections and caches
    runs = []
    for _ in range(repeat):
        spent = {"default": 0.0, "typical": 0.0}
        for chunk in chunks:
            spent["default"] += cpu_seconds(poster, default, chunk)
            spent["typical"] += cpu_seconds(poster, typical, chunk)
        default_us, typical_us = (spent[side] / rows * 1e6 for side in ("default", "typical"))
        runs.append(
            {
                "default_us_per_row": round(default_us, 1),
                "typical_us_per_row": round(typical_us, 1),
                "ratio": round(typical_us / default_us, 3),
            }
        )
    return {
        "rows": rows,
        "threads": THREADS,
        "runs": runs,
        "ratio_median": statistics.median(r["ratio"] for r in runs),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.request_cpu", description=__doc__)
    parser.add_argument("--rows", type=int, default=20_000, help="rows each side posts per repetition")
    parser.add_argument("--repeat", type=int, default=3, help="side-by-side repetitions")
    args = parser.parse_args(argv)
    with DemoApiProcess((0.0, 0.0), module="bench.api") as api:
        result = measure(api.url, args.rows, args.repeat)
    print(json.dumps(result, indent=2))
    met = result["ratio_median"] <= TARGET_SPEC_CPU_RATIO
    print(
        f"typical spec over default request, worker CPU per row: {result['ratio_median']:.3f} "
        f"(target <= {TARGET_SPEC_CPU_RATIO}: {'met' if met else 'NOT met'})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
