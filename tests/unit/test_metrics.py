"""Metric documents (EMF), status classes, and the latency histogram behind local percentiles."""

from __future__ import annotations

from fanout import metrics
from fanout.metrics import EMF_VALUES_PER_DOCUMENT, MAX_SAMPLES_PER_INVOCATION, MetricSet
from infra.local.metrics import bucket_bound
from infra.ops.dashboard_data import _quantile
from worker.calls import status_metric


def test_counters_go_in_the_first_document_and_samples_are_chunked_below_the_emf_limit() -> None:
    # GIVEN a counter and 250 latencies
    tally = MetricSet()
    tally.count(metrics.ROWS_POSTED, 250)
    tally.sample(metrics.API_LATENCY, [float(n) for n in range(250)])
    # WHEN it becomes EMF documents
    documents = list(tally.documents("Fanout", "stack-a"))
    # THEN three documents carry every latency once, none more than the EMF limit allows
    assert [len(d[metrics.API_LATENCY]) for d in documents] == [99, 99, 52]
    assert [v for d in documents for v in d[metrics.API_LATENCY]] == [float(n) for n in range(250)]
    assert all(len(d[metrics.API_LATENCY]) <= EMF_VALUES_PER_DOCUMENT < 100 for d in documents)
    # AND the counter is counted once, in the template's namespace with the service dimension
    assert [d.get(metrics.ROWS_POSTED) for d in documents] == [[250.0], None, None]
    assert all(d["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Fanout" for d in documents)
    assert all(d["service"] == "stack-a" for d in documents)


def test_a_huge_invocation_publishes_a_sample_of_its_latencies() -> None:
    tally = MetricSet()
    tally.sample(metrics.API_LATENCY, [1.0] * 5000)
    assert len(tally.samples[metrics.API_LATENCY][1]) == MAX_SAMPLES_PER_INVOCATION


def test_status_classes() -> None:
    assert [status_metric(s) for s in (200, 204, 400, 404, 429, 500, 503, None)] == [
        metrics.API_2XX,
        metrics.API_2XX,
        metrics.API_4XX,
        metrics.API_4XX,
        metrics.API_429,
        metrics.API_5XX,
        metrics.API_5XX,
        metrics.API_ERRORS,
    ]


def test_percentiles_from_the_histogram_are_within_a_bucket_of_the_truth() -> None:
    # GIVEN latencies 1..1000 ms counted per bucket
    counts: dict[float, float] = {}
    for value in range(1, 1001):
        bound = bucket_bound(float(value))
        counts[bound] = counts.get(bound, 0) + 1
    # THEN p50, p90 and p99 read from it are within 10% above the true values
    for fraction, truth in ((0.5, 500), (0.9, 900), (0.99, 990)):
        assert truth <= _quantile(counts, fraction) <= truth * 1.1
