"""The benchmark's output: a table on stdout, JSON with the machine's description, a PNG curve."""

from __future__ import annotations

import json
import os
import platform
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "load_average_at_start": os.getloadavg(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def spread(values: Sequence[float]) -> dict[str, float]:
    """Median, min and max of repeated measurements."""
    return {
        "median": round(statistics.median(values), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
    }


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2f}" if abs(value) < 10 else f"{value:.0f}"
    return str(value)


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def plot_curve(path: Path, latency_s: float, points: list[dict[str, Any]]) -> None:
    """Throughput against calls in flight, Fanout and the baseline, under C / L."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    in_flight = [p["in_flight"] for p in points]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(in_flight, [c / latency_s for c in in_flight], "k--", label="C / L (the limit)")
    ax.plot(in_flight, [p["fanout_rows_per_s"] for p in points], "o-", label="fanout run")
    ax.plot(in_flight, [p["baseline_rows_per_s"] for p in points], "s-", label="baseline (requests.post)")
    ax.set_xscale("log", base=2)
    ax.set_xticks(in_flight, [str(c) for c in in_flight])
    ax.set_xlabel("calls in flight C (concurrency x threads)")
    ax.set_ylabel("rows posted per second")
    ax.set_ylim(0, max(max(p["fanout_rows_per_s"], p["baseline_rows_per_s"]) for p in points) * 1.6)
    ax.set_title(f"Throughput against C, API latency {latency_s * 1000:.0f} ms, {os.cpu_count()} CPUs")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
