"""The dashboard's widgets with their data: the deployed dashboard's body, filled from CloudWatch.

The body is the one template.yaml declares (read back from CloudWatch by the stack's
DashboardName output; the local stack puts it into the emulator). Each metric widget's series
is fetched with GetMetricStatistics; percentiles the endpoint cannot compute (the emulator
computes none) come from the histograms the local metrics sink keeps (infra/local/metrics.py).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3

from fanout.jobs import JobStore
from infra.local.metrics import BUCKET_DIMENSION, histogram_namespace

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient

# Candidate periods (s): the smallest that keeps a chart within MAX_POINTS points.
PERIODS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 10800, 21600, 86400)
MAX_POINTS = 24
PLAIN_STATS = ("Sum", "Average", "Maximum", "Minimum", "SampleCount")
# The page starts a little before the first job, or shows this long when there is none.
LEAD_IN_S = 10.0
DEFAULT_WINDOW_S = 3600.0


@dataclass(frozen=True)
class MetricRef:
    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]
    stat: str
    label: str
    axis: str


def period_for(start: datetime, end: datetime) -> int:
    span = max(1.0, (end - start).total_seconds())
    return next((p for p in PERIODS_S if span / p <= MAX_POINTS), PERIODS_S[-1])


def metric_refs(properties: dict[str, Any]) -> list[MetricRef]:
    """A metric widget's `metrics` array: [namespace, name, dim, value, ..., {options}] rows."""
    refs = []
    for row in properties.get("metrics", []):
        options = row[-1] if isinstance(row[-1], dict) else {}
        fields = [str(v) for v in (row[:-1] if options else row)]
        namespace, name, rest = fields[0], fields[1], fields[2:]
        dimensions = tuple(zip(rest[0::2], rest[1::2], strict=True))
        stat = str(options.get("stat", properties.get("stat", "Average")))
        refs.append(
            MetricRef(
                namespace,
                name,
                dimensions,
                stat,
                str(options.get("label", name)),
                options.get("yAxis", "left"),
            )
        )
    return refs


def _align(
    points: Iterable[tuple[datetime, float]], start: datetime, period: int, stat: str
) -> list[list[float]]:
    """Points on the period grid from `start` (endpoints may start their periods elsewhere)."""
    cells: dict[float, list[float]] = {}
    origin = start.timestamp()
    for when, value in points:
        cell = origin + math.floor((when.timestamp() - origin) / period) * period
        cells.setdefault(cell, []).append(value)
    return [[cell, _combine(values, stat)] for cell, values in sorted(cells.items())]


def _combine(values: list[float], stat: str) -> float:
    if stat in ("Sum", "SampleCount"):
        return sum(values)
    if stat == "Maximum":
        return max(values)
    if stat == "Minimum":
        return min(values)
    return sum(values) / len(values)


class DashboardData:
    def __init__(self, cloudwatch: CloudWatchClient, start: datetime, end: datetime) -> None:
        self._cloudwatch = cloudwatch
        self._start = start
        self._end = end
        self.period = period_for(start, end)

    def fetch(self, body: str, title: str) -> dict[str, Any]:
        widgets = json.loads(body).get("widgets", [])
        return {
            "title": title,
            "start": self._start.timestamp(),
            "end": self._end.timestamp(),
            "period": self.period,
            "widgets": [self._widget(w) for w in widgets],
        }

    def _widget(self, widget: dict[str, Any]) -> dict[str, Any]:
        properties = widget.get("properties", {})
        out: dict[str, Any] = {
            "type": widget.get("type", "metric"),
            "title": properties.get("title", ""),
            "x": widget.get("x", 0),
            "y": widget.get("y", 0),
            "width": widget.get("width", 6),
            "height": widget.get("height", 6),
        }
        if out["type"] == "metric":
            out["stacked"] = bool(properties.get("stacked", False))
            out["series"] = [self._series(ref) for ref in metric_refs(properties)]
        elif out["type"] == "alarm":
            out["alarms"] = self._alarms([str(a) for a in properties.get("alarms", [])])
        elif out["type"] == "text":
            out["markdown"] = properties.get("markdown", "")
        return out

    def _series(self, ref: MetricRef) -> dict[str, Any]:
        points = self._statistic(ref.namespace, ref.name, ref.dimensions, ref.stat)
        if not points and ref.stat.startswith("p"):
            points = self._percentile_from_histogram(ref)
        values = [v for _, v in points]
        return {
            "label": ref.label,
            "stat": ref.stat,
            "axis": ref.axis,
            "metric": f"{ref.namespace} {ref.name}",
            "points": points,
            "total": sum(values) if ref.stat == "Sum" else None,
            "peak": max(values) if values else None,
        }

    def _statistic(
        self, namespace: str, name: str, dimensions: tuple[tuple[str, str], ...], stat: str
    ) -> list[list[float]]:
        args: dict[str, Any] = {
            "Namespace": namespace,
            "MetricName": name,
            "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions],
            "StartTime": self._start,
            "EndTime": self._end,
            "Period": self.period,
        }
        if stat in PLAIN_STATS:
            response = self._cloudwatch.get_metric_statistics(**args, Statistics=[stat])  # type: ignore[list-item]
            raw = [(p["Timestamp"], float(p.get(stat, 0.0))) for p in response["Datapoints"]]  # type: ignore[arg-type]
        else:
            response = self._cloudwatch.get_metric_statistics(**args, ExtendedStatistics=[stat])
            raw = [
                (p["Timestamp"], float(p["ExtendedStatistics"][stat]))
                for p in response["Datapoints"]
                if stat in p.get("ExtendedStatistics", {})
            ]
        return _align(raw, self._start, self.period, stat)

    def _percentile_from_histogram(self, ref: MetricRef) -> list[list[float]]:
        """pNN per period from counts per latency bucket: the bound where the count reaches NN%."""
        namespace = histogram_namespace(ref.namespace)
        wanted: Any = [{"Name": k, "Value": v} for k, v in ref.dimensions]
        listed = self._cloudwatch.list_metrics(Namespace=namespace, MetricName=ref.name, Dimensions=wanted)
        buckets = {
            tuple(sorted((d["Name"], d["Value"]) for d in metric.get("Dimensions", [])))
            for metric in listed["Metrics"]
        }
        counts: dict[float, dict[float, float]] = {}  # period -> bucket bound -> count
        for bucket in buckets:
            dims = dict(bucket)
            if BUCKET_DIMENSION not in dims or len(dims) != len(wanted) + 1:
                continue
            bound = float(dims[BUCKET_DIMENSION])
            for cell, count in self._statistic(namespace, ref.name, bucket, "Sum"):
                cell_counts = counts.setdefault(cell, {})
                cell_counts[bound] = cell_counts.get(bound, 0.0) + count
        fraction = float(ref.stat[1:]) / 100.0
        return [[cell, _quantile(by_bound, fraction)] for cell, by_bound in sorted(counts.items())]

    def _alarms(self, arns: list[str]) -> list[dict[str, str]]:
        names = [arn.rsplit(":alarm:", 1)[-1] for arn in arns]
        found = {}
        if names:
            described = self._cloudwatch.describe_alarms(AlarmNames=names)["MetricAlarms"]
            found = {a["AlarmName"]: a["StateValue"] for a in described}
        return [{"name": name, "state": found.get(name, "NOT CREATED")} for name in names]


def _quantile(by_bound: dict[float, float], fraction: float) -> float:
    total = sum(by_bound.values())
    seen = 0.0
    for bound in sorted(by_bound):
        seen += by_bound[bound]
        if seen >= fraction * total:
            return bound
    return max(by_bound)


def utc(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(epoch_s, UTC)


def read_dashboard(session: boto3.Session, outputs: dict[str, str], where: str) -> dict[str, Any]:
    """The stack's dashboard with its data, from its first job's start (or the last while) to now."""
    jobs = JobStore(session.client("dynamodb"), outputs["JobsTableName"]).list()
    end = datetime.now(UTC) + timedelta(seconds=1)
    if jobs:
        start = utc(min(job.started for job in jobs) - LEAD_IN_S)
    else:
        start = end - timedelta(seconds=DEFAULT_WINDOW_S)
    cloudwatch = session.client("cloudwatch")
    name = outputs["DashboardName"]
    body = cloudwatch.get_dashboard(DashboardName=name)["DashboardBody"]
    data = DashboardData(cloudwatch, start, end).fetch(body, f"Fanout dashboard: {name}")
    data["source"] = where
    return data


def last_run_path() -> Path:
    """Where `fanout run` keeps its dashboard, since its emulator is gone once it ends."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "fanout" / "last-run-dashboard.json"


def save_last_run(data: dict[str, Any]) -> Path:
    path = last_run_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path
