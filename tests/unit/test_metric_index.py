"""The emulator's CloudWatch queries by metric name give moto's own answers (emulator_speedups)."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

from moto.cloudwatch.models import MetricDatum, MetricDatumBase

from infra.local.emulator_speedups import MetricIndex, first_of_each

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _datum(namespace: str, name: str, dimensions: list[tuple[str, str]]) -> MetricDatum:
    return MetricDatum(namespace, name, 1.0, [{"Name": k, "Value": v} for k, v in dimensions], NOW)


def _mixed(count: int, seed: int) -> list[MetricDatum]:
    """Data of several names, with no, one, repeated and two dimensions (a histogram's shape)."""
    rng = random.Random(seed)
    shapes: list[list[tuple[str, str]]] = [
        [],
        [("FunctionName", "fanout-worker")],
        [("FunctionName", "fanout-splitter")],
        [("QueueName", "work"), ("QueueName", "work")],
        [("FunctionName", "fanout-worker"), ("LatencyBucketMs", "12.5")],
        [("FunctionName", "fanout-worker"), ("LatencyBucketMs", "13.8")],
    ]
    return [
        _datum(
            rng.choice(("Fanout", "Fanout/Histogram")),
            rng.choice(("ApiLatency", "RowsPosted")),
            rng.choice(shapes),
        )
        for _ in range(count)
    ]


def _moto_list_filter(data: list[MetricDatumBase], namespace: str, name: str, dimensions: Any) -> list[Any]:
    """moto's CloudWatchBackend.get_filtered_metrics, over the same data."""
    found: list[MetricDatumBase] = []
    for datum in data:
        if datum.filter(namespace=namespace, name=name, dimensions=dimensions, already_present_metrics=found):
            found.append(datum)
    return found


def test_the_index_holds_each_names_data_in_the_order_it_was_put_as_more_is_put() -> None:
    data: list[Any] = _mixed(300, seed=1)
    index = MetricIndex()
    for _ in range(3):
        for namespace in ("Fanout", "Fanout/Histogram"):
            for name in ("ApiLatency", "RowsPosted", "Missing"):
                expected = [d for d in data if d.namespace == namespace and d.name == name]
                assert index.named(data, namespace, name) == expected
        data.extend(_mixed(200, seed=len(data)))


def test_a_new_list_of_data_starts_the_index_afresh() -> None:
    index = MetricIndex()
    first: list[Any] = _mixed(50, seed=2)
    index.named(first, "Fanout", "ApiLatency")
    second: list[Any] = _mixed(10, seed=3)
    assert index.named(second, "Fanout", "ApiLatency") == [
        d for d in second if d.namespace == "Fanout" and d.name == "ApiLatency"
    ]


def test_list_metrics_over_one_names_data_keeps_what_moto_keeps_in_the_same_order() -> None:
    data: list[Any] = _mixed(600, seed=4)
    for namespace in ("Fanout", "Fanout/Histogram"):
        for name in ("ApiLatency", "RowsPosted"):
            named = [d for d in data if d.namespace == namespace and d.name == name]
            for dimensions in (
                [],
                [{"Name": "FunctionName", "Value": "fanout-worker"}],
                [{"Name": "QueueName"}],
            ):
                expected = _moto_list_filter(data, namespace, name, dimensions)
                assert first_of_each(named, dimensions) == expected


def test_data_with_given_dimensions_are_the_ones_moto_s_filter_keeps() -> None:
    # GIVEN data of several names and dimension sets, a histogram's among them
    data: list[Any] = _mixed(500, seed=3)
    data.append(MetricDatum("Fanout", "ApiLatency", 1.0, [{"Name": "FunctionName", "Value": None}], NOW))
    index = MetricIndex()
    queries: list[list[tuple[str, str]]] = [
        [],
        [("FunctionName", "fanout-worker")],
        [("FunctionName", "fanout-worker"), ("LatencyBucketMs", "12.5")],
        [("LatencyBucketMs", "13.8")],
        [("QueueName", "work")],
        [("FunctionName", "nobody")],
    ]
    for namespace in ("Fanout", "Fanout/Histogram"):
        for name in ("ApiLatency", "RowsPosted"):
            for query in queries:
                # WHEN the index is asked for the data that has the query's dimensions
                found = index.having(data, namespace, name, query)
                # THEN it holds exactly what moto's own filter keeps of that name's data
                wanted = [{"Name": k, "Value": v} for k, v in query]
                expected = [d for d in index.named(data, namespace, name) if d.filter(None, None, wanted)]
                assert sorted(map(id, found)) == sorted(map(id, expected))
