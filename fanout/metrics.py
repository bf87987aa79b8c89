"""The metrics both functions emit: CloudWatch embedded metric format (EMF) through Powertools.

Each invocation aggregates what it saw (counters, a list of latencies) and publishes once at
its end, so the per-row cost is an append. On Lambda the documents go to stdout, where
CloudWatch Logs turns them into metrics; on one machine the local runtime hands the cores a
sink that puts the same documents into the emulator's CloudWatch. The dashboard in
template.yaml names these metrics (tests/unit/test_dashboard.py keeps the two in step).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from aws_lambda_powertools.metrics import EphemeralMetrics

from fanout.settings import MetricsSettings

# Worker: rows settled by this invocation's ledger transactions.
ROWS_POSTED = "RowsPosted"
ROWS_FAILED = "RowsFailed"
# Worker: rows its ledger transactions marked cancelled (their job was cancelled or halted).
ROWS_CANCELLED = "RowsCancelled"
# Worker: jobs an invocation halted because they failed beyond their threshold (an alarm's metric).
JOBS_HALTED = "JobsHalted"
# Worker: API calls beyond a row's first in one delivery.
ROWS_RETRIED = "RowsRetried"
# Worker: every API call by what came back, and how long it took.
API_2XX = "ApiCalls2xx"
API_4XX = "ApiCalls4xx"
API_429 = "ApiCalls429"
API_5XX = "ApiCalls5xx"
API_ERRORS = "ApiCallErrors"
API_LATENCY = "ApiLatency"
# Worker: one invocation, from its event to its response.
BATCH_DURATION = "BatchDuration"
# Splitter: what it read and sent.
SPLITTER_ROWS = "SplitterRows"
SPLITTER_BYTES = "SplitterBytes"
SPLITTER_MESSAGES = "SplitterMessages"
ROWS_REJECTED = "RowsRejected"
# Either function: messages an invocation failed on, each retried after a short backoff
# (fanout/failures.py).
SPLITTER_FAILURES = "SplitterFailures"
WORKER_FAILURES = "WorkerFailures"

COUNT = "Count"
MILLISECONDS = "Milliseconds"
BYTES = "Bytes"

WORKER_COUNTERS = (
    ROWS_POSTED,
    ROWS_FAILED,
    ROWS_CANCELLED,
    JOBS_HALTED,
    ROWS_RETRIED,
    API_2XX,
    API_4XX,
    API_429,
    API_5XX,
    API_ERRORS,
)
SPLITTER_COUNTERS = (SPLITTER_ROWS, SPLITTER_MESSAGES, ROWS_REJECTED)

# CloudWatch EMF specification: at most 100 values per metric in one document. Powertools
# prints a document by itself when a metric reaches 100 values, so chunks stay below that.
EMF_VALUES_PER_DOCUMENT = 99

# Samples one invocation publishes per metric at most (three documents); beyond that, a uniform
# sample of them. Powertools validates each value it is given (about 25 us), so this bounds the
# metrics' CPU per invocation; percentiles over many invocations stay unbiased.
MAX_SAMPLES_PER_INVOCATION = 3 * 99


class MetricsSink(Protocol):
    def publish(self, documents: list[dict[str, Any]]) -> None:
        """One invocation's EMF documents."""


class StdoutSink:
    """Lambda's way: one EMF document per line on stdout, as Powertools' own flush writes it."""

    def publish(self, documents: list[dict[str, Any]]) -> None:
        for document in documents:
            print(json.dumps(document, separators=(",", ":")), flush=True)


@dataclass(frozen=True)
class MetricsTarget:
    """Where an invocation's metrics go: namespace and service (template Globals), and the sink."""

    namespace: str
    service: str
    sink: MetricsSink

    @classmethod
    def from_env(cls, env: Mapping[str, str], sink: MetricsSink | None = None) -> MetricsTarget:
        settings = MetricsSettings.from_env(env)
        return cls(settings.namespace, settings.service, sink or StdoutSink())

    def publish(self, metrics: MetricSet) -> None:
        self.sink.publish(list(metrics.documents(self.namespace, self.service)))


@dataclass
class MetricSet:
    """One invocation's metrics: counters (emitted even when zero) and lists of samples."""

    counters: dict[str, tuple[str, float]] = field(default_factory=dict)
    samples: dict[str, tuple[str, list[float]]] = field(default_factory=dict)

    def count(self, name: str, value: float, unit: str = COUNT) -> None:
        _, before = self.counters.get(name, (unit, 0.0))
        self.counters[name] = (unit, before + value)

    def sample(self, name: str, values: list[float], unit: str = MILLISECONDS) -> None:
        if len(values) > MAX_SAMPLES_PER_INVOCATION:
            values = random.sample(values, MAX_SAMPLES_PER_INVOCATION)
        if values:
            self.samples[name] = (unit, values)

    def documents(self, namespace: str, service: str) -> Iterator[dict[str, Any]]:
        """The counters and the first samples in one document, further samples in more."""
        offset = 0
        while True:
            emf = EphemeralMetrics(namespace=namespace, service=service)
            if offset == 0:
                for name, (unit, value) in self.counters.items():
                    emf.add_metric(name=name, unit=unit, value=value)
            for name, (unit, values) in self.samples.items():
                for value in values[offset : offset + EMF_VALUES_PER_DOCUMENT]:
                    emf.add_metric(name=name, unit=unit, value=value)
            if not emf.metric_set:
                return
            yield dict(emf.serialize_metric_set())
            offset += EMF_VALUES_PER_DOCUMENT


def metric_names(document: Mapping[str, Any]) -> set[str]:
    """The metrics an EMF document defines."""
    return {
        metric["Name"]
        for directive in document["_aws"]["CloudWatchMetrics"]
        for metric in directive["Metrics"]
    }
