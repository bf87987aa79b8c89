"""Budget benchmark: against an API limited to R calls a second, how close does
`fanout run --max-rps R` get to R, and how many calls are answered 429?

    .venv/bin/python -m bench.budget [--rate 200] [--rows 12000] [--rows-per-message 20]

The API (loopback, a token bucket of R a second with a burst of R, 429 with Retry-After
beyond, 30-80 ms a call) runs in this process; `fanout run` is a child process. The sustained
rate is what the API accepted over the middle 80% of its accepted calls: the steady state,
without start-up, the split, and the last round of batches when fewer invocations are left
than the mapping allows. The rate over all calls is reported beside it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.limited_api import LimitedApi
from infra.demo.api import DemoApi


def measure(policy: LimitedApi, rate: float) -> dict[str, Any]:
    times = policy.accepted_at
    low, high = int(len(times) * 0.1), int(len(times) * 0.9)
    sustained = (high - low) / (times[high] - times[low])
    return {
        "overall_per_s": round((len(times) - 1) / (times[-1] - times[0]), 1),
        "sustained_per_s": round(sustained, 1),
        "ratio_to_limit": round(sustained / rate, 3),
        "calls_429_pct": round(100 * policy.refused / (len(times) + policy.refused), 2),
    }


def run_once(rate: float, rows: int, rows_per_message: int, budget: bool) -> dict[str, Any]:
    policy = LimitedApi(rate)
    with DemoApi(latency_s=(0.03, 0.08), decide=policy) as api, tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "rows.csv"
        source.write_text("id\n" + "".join(f"{n}\n" for n in range(1, rows + 1)))
        flags = ["--param", f"RowsPerMessage={rows_per_message}"]
        flags += ["--max-rps", str(rate)] if budget else []
        done = subprocess.run(
            [sys.executable, "-m", "infra.cli", "run", str(source), "--api-url", api.url, *flags],
            capture_output=True,
            text=True,
            check=False,
        )
        return {
            "budget": budget,
            "exit_code": done.returncode,
            "rows_accepted": len(api.successes),
        } | measure(policy, rate)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="API budget benchmark")
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--rows", type=int, default=12000)
    parser.add_argument("--rows-per-message", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path("bench/results/budget.json"))
    args = parser.parse_args(argv)
    results = [run_once(args.rate, args.rows, args.rows_per_message, budget) for budget in (True, False)]
    print(f"API limited to {args.rate:.0f} calls/s, {args.rows} rows, 30-80 ms a call")
    for r in results:
        label = f"--max-rps {args.rate:.0f}" if r["budget"] else "no budget"
        print(
            f"  {label:>14}: sustained {r['sustained_per_s']:>7} calls/s = {r['ratio_to_limit']:.3f} x limit "
            f"(overall {r['overall_per_s']}), {r['calls_429_pct']}% answered 429, "
            f"{r['rows_accepted']} rows, exit {r['exit_code']}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"rate": args.rate, "rows": args.rows, "results": results}, indent=2) + "\n"
    )


if __name__ == "__main__":
    main()
