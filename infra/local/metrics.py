"""Metrics on one machine: what CloudWatch would hold on AWS, put into the emulator's CloudWatch.

- `CloudWatchSink` takes the EMF documents the handlers' cores publish (the same documents
  Lambda would print) and puts them with PutMetricData, as CloudWatch Logs would extract them.
- `ServiceMetrics` plays the part of AWS's own metrics: queue depths (AWS/SQS) and the
  functions' invocations, errors, duration and concurrency (AWS/Lambda), from the local event
  source mappings.

The emulator computes no percentiles, so every millisecond metric is also kept as a histogram
(counts per bucket, under an extra dimension, in a namespace of its own so it never mixes with
the metric itself); the local dashboard derives p50/p90/p99 from it (infra/ops/dashboard_data.py).
"""

from __future__ import annotations

import bisect
import logging
import queue
import threading
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from fanout.metrics import MetricsSink
from infra.local.event_source import EventSource

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_cloudwatch.type_defs import MetricDatumTypeDef

log = logging.getLogger("fanout.local")

# PutMetricData: at most 1,000 datums in one request (Amazon CloudWatch API Reference).
PUT_MAX_DATUMS = 1000
# The extra dimension of the histogram: the bucket's upper bound in milliseconds.
BUCKET_DIMENSION = "LatencyBucketMs"
# Bucket bounds: 10% apart from 0.1 ms to about 10 minutes, so a percentile read from them is
# within 10% of the true value.
BUCKET_BOUNDS_MS = tuple(round(0.1 * 1.1**k, 3) for k in range(165))
# How often the local stand-in for AWS's own metrics publishes.
SERVICE_METRICS_EVERY_S = 2.0


def histogram_namespace(namespace: str) -> str:
    return f"{namespace}/Histogram"


def bucket_bound(value_ms: float) -> float:
    index = bisect.bisect_left(BUCKET_BOUNDS_MS, value_ms)
    return BUCKET_BOUNDS_MS[min(index, len(BUCKET_BOUNDS_MS) - 1)]


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def put_datums(cloudwatch: CloudWatchClient, namespace: str, datums: list[MetricDatumTypeDef]) -> None:
    """The datums, summarised, and a histogram of those in milliseconds.

    A list of values goes in as its statistic set (count, sum, minimum, maximum): the emulator
    keeps every value it is given as an object of its own, which makes it slow to put and to
    read; the histogram holds what the statistic set loses (the percentiles).
    """
    histogram = [h for d in datums if d.get("Unit") == "Milliseconds" for h in _histogram(d)]
    summarised = [_summarised(d) for d in datums]
    for chunk in _chunks(summarised, PUT_MAX_DATUMS):
        cloudwatch.put_metric_data(Namespace=namespace, MetricData=chunk)
    for chunk in _chunks(histogram, PUT_MAX_DATUMS):
        cloudwatch.put_metric_data(Namespace=histogram_namespace(namespace), MetricData=chunk)


def _summarised(datum: MetricDatumTypeDef) -> MetricDatumTypeDef:
    values = datum.get("Values")
    if not values:
        return datum
    summary = {k: v for k, v in datum.items() if k != "Values"}
    summary["StatisticValues"] = {
        "SampleCount": float(len(values)),
        "Sum": float(sum(values)),
        "Minimum": float(min(values)),
        "Maximum": float(max(values)),
    }
    return summary  # type: ignore[return-value]


def _histogram(datum: MetricDatumTypeDef) -> Iterable[MetricDatumTypeDef]:
    counts: dict[float, int] = {}
    for value in datum.get("Values", []):
        bound = bucket_bound(value)
        counts[bound] = counts.get(bound, 0) + 1
    for bound, count in counts.items():
        yield {
            "MetricName": datum["MetricName"],
            "Dimensions": [*datum.get("Dimensions", []), {"Name": BUCKET_DIMENSION, "Value": repr(bound)}],
            "Value": count,
            "Unit": "Count",
            "Timestamp": datum["Timestamp"],
        }


class CloudWatchSink:
    """EMF documents to PutMetricData: each metric of each directive, with its dimensions."""

    def __init__(self, cloudwatch: CloudWatchClient) -> None:
        self._cloudwatch = cloudwatch

    def publish(self, documents: list[dict[str, Any]]) -> None:
        """One request per namespace for the whole invocation: a metric's values put together."""
        merged: dict[tuple[str, str, str, tuple[tuple[str, str], ...]], list[float]] = {}
        timestamps: dict[str, datetime] = {}
        for document in documents:
            meta = document["_aws"]
            for directive in meta["CloudWatchMetrics"]:
                namespace = directive["Namespace"]
                timestamps.setdefault(namespace, datetime.fromtimestamp(meta["Timestamp"] / 1000.0, UTC))
                for dimension_set in directive["Dimensions"]:
                    dimensions = tuple((name, str(document[name])) for name in dimension_set)
                    for metric in directive["Metrics"]:
                        values = document[metric["Name"]]
                        key = (namespace, metric["Name"], metric["Unit"], dimensions)
                        merged.setdefault(key, []).extend(values if isinstance(values, list) else [values])
        for namespace, timestamp in timestamps.items():
            datums = [
                datum
                for (ns, name, unit, dimensions), values in merged.items()
                if ns == namespace
                for datum in _datums(
                    name, unit, values, [{"Name": k, "Value": v} for k, v in dimensions], timestamp
                )
            ]
            try:
                put_datums(self._cloudwatch, namespace, datums)
            except (ClientError, BotoCoreError):
                # On Lambda a metric cannot fail an invocation either: it is a line on stdout.
                log.exception("the emulator's CloudWatch refused an invocation's metrics")


class BackgroundSink:
    """Puts each invocation's metrics from a thread of its own.

    On Lambda an invocation's metrics cost it a line on stdout; CloudWatch takes them in
    afterwards. A PutMetricData call to the emulator inside the invocation cost 80 ms of each
    7 s invocation here (measured), time the workers do not spend on AWS.
    """

    def __init__(self, sink: MetricsSink) -> None:
        self._sink = sink
        self._queue: queue.SimpleQueue[list[dict[str, Any]] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="metrics-sink", daemon=True)
        self._thread.start()

    def publish(self, documents: list[dict[str, Any]]) -> None:
        self._queue.put(documents)

    def close(self) -> None:
        """Puts what is still queued, then stops."""
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        while (documents := self._queue.get()) is not None:
            try:
                self._sink.publish(documents)
            except Exception:
                log.exception("an invocation's metrics could not be put")


def _datums(
    name: str, unit: str, values: list[float], dimensions: list[Any], timestamp: datetime
) -> Iterable[MetricDatumTypeDef]:
    if values:
        yield {
            "MetricName": name,
            "Dimensions": dimensions,
            "Values": values,
            "Unit": unit,  # type: ignore[typeddict-item]
            "Timestamp": timestamp,
        }


class ServiceMetrics:
    """Every few seconds, what AWS/SQS and AWS/Lambda would report for the local stack."""

    def __init__(
        self,
        session: boto3.Session,
        queues: Mapping[str, str],
        sources: Mapping[str, EventSource],
    ) -> None:
        self._cloudwatch = session.client("cloudwatch")
        self._sqs = session.client("sqs")
        self._queues = dict(queues)  # queue name -> URL
        self._sources = sources  # function name -> its event source
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="service-metrics", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()
        self.publish()

    def _run(self) -> None:
        while not self._stopping.wait(SERVICE_METRICS_EVERY_S):
            try:
                self.publish()
            except Exception:
                log.exception("could not publish the local service metrics")

    def publish(self) -> None:
        now = datetime.now(UTC)
        put_datums(self._cloudwatch, "AWS/SQS", self._queue_datums(now))
        put_datums(self._cloudwatch, "AWS/Lambda", self._function_datums(now))
        evaluate_alarms(self._cloudwatch, now)

    def _queue_datums(self, now: datetime) -> list[MetricDatumTypeDef]:
        datums: list[MetricDatumTypeDef] = []
        oldest = {name: 0.0 for name in self._queues}
        for source in self._sources.values():
            age = source.stats.take_oldest_age()
            queue = source.queue_name
            oldest[queue] = max(oldest.get(queue, 0.0), age)
        for name, url in self._queues.items():
            attributes = self._sqs.get_queue_attributes(
                QueueUrl=url,
                AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
            )["Attributes"]
            dimensions = [{"Name": "QueueName", "Value": name}]
            values = {
                "ApproximateNumberOfMessagesVisible": float(attributes.get("ApproximateNumberOfMessages", 0)),
                "ApproximateNumberOfMessagesNotVisible": float(
                    attributes.get("ApproximateNumberOfMessagesNotVisible", 0)
                ),
                # The emulator does not track it: the oldest message a poller received lately.
                "ApproximateAgeOfOldestMessage": oldest.get(name, 0.0),
            }
            for metric, value in values.items():
                unit = "Seconds" if metric == "ApproximateAgeOfOldestMessage" else "Count"
                datums.append(
                    {
                        "MetricName": metric,
                        "Dimensions": dimensions,  # type: ignore[typeddict-item]
                        "Value": value,
                        "Unit": unit,  # type: ignore[typeddict-item]
                        "Timestamp": now,
                    }
                )
        return datums

    def _function_datums(self, now: datetime) -> list[MetricDatumTypeDef]:
        datums: list[MetricDatumTypeDef] = []
        for function, source in self._sources.items():
            taken = source.stats.take()
            dimensions: Any = [{"Name": "FunctionName", "Value": function}]
            for metric, value in (
                ("Invocations", taken.invocations),
                ("Errors", taken.errors),
                ("Throttles", 0),  # local pollers wait for a free slot instead of being throttled
                ("ConcurrentExecutions", taken.peak_concurrency),
            ):
                datums.append(
                    {
                        "MetricName": metric,
                        "Dimensions": dimensions,
                        "Value": float(value),
                        "Unit": "Count",
                        "Timestamp": now,
                    }
                )
            datums.extend(_datums("Duration", "Milliseconds", taken.durations_ms, dimensions, now))
        return datums


_BREACHES = {
    "GreaterThanOrEqualToThreshold": lambda value, threshold: value >= threshold,
    "GreaterThanThreshold": lambda value, threshold: value > threshold,
    "LessThanThreshold": lambda value, threshold: value < threshold,
    "LessThanOrEqualToThreshold": lambda value, threshold: value <= threshold,
}


def _combined(values: list[float], stat: str) -> float:
    if stat in ("Sum", "SampleCount"):
        return sum(values)
    if stat == "Minimum":
        return min(values)
    return max(values) if stat == "Maximum" else sum(values) / len(values)


def evaluate_alarms(cloudwatch: CloudWatchClient, now: datetime) -> None:
    """The emulator keeps alarms but never evaluates them: a simplified evaluation, done here.

    Each alarm's statistic over its whole evaluation window (Period x EvaluationPeriods) against
    its threshold; no data counts as not breaching, as the template's alarms say.
    """
    for alarm in cloudwatch.describe_alarms()["MetricAlarms"]:
        window_s = int(alarm["Period"]) * int(alarm["EvaluationPeriods"])
        stat = alarm["Statistic"]
        points = cloudwatch.get_metric_statistics(
            Namespace=alarm["Namespace"],
            MetricName=alarm["MetricName"],
            Dimensions=alarm.get("Dimensions", []),
            StartTime=now - timedelta(seconds=window_s),
            EndTime=now + timedelta(seconds=1),
            Period=window_s,
            Statistics=[stat],
        )["Datapoints"]
        values = [float(p[stat]) for p in points if stat in p]
        state: Literal["ALARM", "OK"] = "OK"
        value = _combined(values, stat) if values else None
        if value is not None:
            breached = _BREACHES[alarm["ComparisonOperator"]](value, float(alarm["Threshold"]))
            state = "ALARM" if breached else "OK"
        if state != alarm["StateValue"]:
            cloudwatch.set_alarm_state(
                AlarmName=alarm["AlarmName"],
                StateValue=state,
                StateReason=f"evaluated on this machine: {stat} {value} vs threshold {alarm['Threshold']}",
            )
