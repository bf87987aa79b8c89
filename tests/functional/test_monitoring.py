"""What the functions tell the outside: metrics (EMF), the job's report and its finished event."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3

from fanout import metrics
from fanout.jobs import JobStore
from fanout.reports import EVENT_DETAIL_TYPE, EVENT_SOURCE, JobReporter, report_key
from infra.demo.api import Call, DemoApi, Reply
from infra.local.stack import LocalStack
from splitter.handler import build as build_splitter
from tests.functional.helpers import combine_handed_off, context_for, event_for, receive_all
from worker.handler import build as build_worker


class ListSink:
    def __init__(self) -> None:
        self.documents: list[dict[str, Any]] = []

    def publish(self, documents: list[dict[str, Any]]) -> None:
        self.documents.extend(documents)

    def names(self) -> set[str]:
        return {name for d in self.documents for name in metrics.metric_names(d)}

    def total(self, name: str) -> float:
        return sum(
            sum(d[name]) if isinstance(d[name], list) else d[name] for d in self.documents if name in d
        )


def dashboard_metric_names(stack: LocalStack) -> set[str]:
    """The metrics in the functions' namespace that the template's dashboard draws."""
    namespace = stack.functions["WorkerFunction"].environment["POWERTOOLS_METRICS_NAMESPACE"]
    (body,) = stack.dashboards.values()
    return {
        row[1]
        for widget in json.loads(body)["widgets"]
        for row in widget.get("properties", {}).get("metrics", [])
        if row[0] == namespace
    }


def one_of_each_answer(call: Call) -> Reply:
    """Row 7 refused (400); rows 11 and 13 throttled (429) or failing (500) once; row 17 too slow once."""
    row = int(call.payload["id"])
    if row == 7:
        return Reply(400, body=b'{"error":"no"}')
    if row == 11 and call.attempt == 1:
        return Reply(429, headers={"Retry-After": "0"})
    if row == 13 and call.attempt == 1:
        return Reply(500)
    if row == 17 and call.attempt == 1:
        time.sleep(1.5)  # past the request timeout below
    return Reply()


def run_job(session: boto3.Session, stack: LocalStack, sink: ListSink, data: bytes) -> None:
    session.client("s3").put_object(Bucket=stack.outputs["DataBucketName"], Key="incoming/m.csv", Body=data)
    intake = receive_all(session, stack.outputs["IntakeQueueUrl"], visibility=30)
    splitter = build_splitter(stack.functions["SplitterFunction"].environment, session, metrics_sink=sink)
    assert splitter.handle(
        event_for(stack, "SplitterFunction", intake), context_for(stack, "SplitterFunction")
    )
    environment = {**stack.functions["WorkerFunction"].environment, "REQUEST_TIMEOUT_S": "1"}
    worker = build_worker(environment, session, metrics_sink=sink)
    work = receive_all(session, stack.outputs["WorkQueueUrl"], visibility=30)
    response = worker.handle(event_for(stack, "WorkerFunction", work), context_for(stack, "WorkerFunction"))
    assert response == {"batchItemFailures": []}
    combine_handed_off(session, stack)  # the results, then the report


def test_the_metrics_emitted_are_the_ones_the_dashboard_draws_and_count_the_job(
    session: boto3.Session, stack: LocalStack, api: DemoApi
) -> None:
    # GIVEN an API that refuses, throttles, fails and stalls a row each, and a file with a bad record
    api.decide = one_of_each_answer
    rows = "".join(f"{n},name {n}\n" for n in range(1, 31))
    sink = ListSink()
    # WHEN the splitter and a worker handle the file
    run_job(session, stack, sink, f"id,name\n{rows}31\n".encode())
    # THEN every metric they emitted is one the dashboard draws, and the dashboard draws no other
    # but the failures' (emitted when an invocation fails: tests/functional/test_invocation_failures.py)
    failures = {metrics.SPLITTER_FAILURES, metrics.WORKER_FAILURES}
    assert sink.names() == dashboard_metric_names(stack) - failures
    assert failures <= dashboard_metric_names(stack)
    # AND the counters add up to the job record
    (job,) = JobStore(session.client("dynamodb"), stack.outputs["JobsTableName"]).list()
    assert (job.rows_total, job.rows_posted, job.rows_failed, job.rows_rejected) == (31, 29, 1, 1)
    assert sink.total(metrics.SPLITTER_ROWS) == 31
    assert sink.total(metrics.ROWS_REJECTED) == 1
    assert sink.total(metrics.ROWS_POSTED) == 29
    assert sink.total(metrics.ROWS_FAILED) == 1
    assert sink.total(metrics.API_4XX) == 1
    assert sink.total(metrics.API_429) == 1
    assert sink.total(metrics.API_5XX) == 1
    assert sink.total(metrics.API_ERRORS) == 1
    assert sink.total(metrics.API_2XX) == 29
    assert sink.total(metrics.ROWS_RETRIED) == 3
    latencies = [v for d in sink.documents for v in d.get(metrics.API_LATENCY, [])]
    assert len(latencies) == 33  # one per call
    # AND every document is in the template's namespace with the stack's service dimension
    namespace = stack.functions["WorkerFunction"].environment["POWERTOOLS_METRICS_NAMESPACE"]
    assert {d["_aws"]["CloudWatchMetrics"][0]["Namespace"] for d in sink.documents} == {namespace}
    assert {d["service"] for d in sink.documents} == {"fanout-local"}


def test_a_finished_job_is_reported_to_the_bucket_and_announced_once(
    session: boto3.Session, stack: LocalStack, api: DemoApi
) -> None:
    # GIVEN a rule on the default event bus that forwards Fanout's events to a queue
    sqs, events = session.client("sqs"), session.client("events")
    inbox = sqs.create_queue(QueueName="announcements")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(Name="fanout-finished", EventPattern=json.dumps({"source": [EVENT_SOURCE]}))
    events.put_targets(Rule="fanout-finished", Targets=[{"Id": "inbox", "Arn": inbox_arn}])
    # WHEN a job runs to its end
    rows = "".join(f"{n},name {n}\n" for n in range(1, 21))
    run_job(session, stack, ListSink(), f"id,name\n{rows}".encode())
    jobs = JobStore(session.client("dynamodb"), stack.outputs["JobsTableName"])
    (job,) = jobs.list()
    # THEN its report is in the bucket, with the fields of `fanout run --report`
    bucket = stack.outputs["DataBucketName"]
    body = session.client("s3").get_object(Bucket=bucket, Key=report_key(job.job_id))["Body"].read()
    report = json.loads(body)
    assert {k: report[k] for k in ("job_id", "state", "rows_total", "rows_posted", "rows_failed")} == {
        "job_id": job.job_id,
        "state": "done",
        "rows_total": 20,
        "rows_posted": 20,
        "rows_failed": 0,
    }
    assert set(report) >= {"rows_rejected", "duration_s", "rows_per_s", "source", "error"}
    # AND one event announced it; looking again does not announce it twice
    again = JobReporter(jobs, session.client("s3"), events).report_if_finished(job.job_id)
    assert again is None
    received = receive_all(session, inbox)
    assert len(received) == 1
    event = json.loads(received[0]["Body"])
    assert (event["source"], event["detail-type"]) == (EVENT_SOURCE, EVENT_DETAIL_TYPE)
    assert event["detail"]["rows_posted"] == 20
    assert event["detail"]["report"] == f"s3://{bucket}/{report_key(job.job_id)}"


def test_a_redrive_that_posts_failed_rows_reports_the_job_again(
    session: boto3.Session, stack: LocalStack, api: DemoApi
) -> None:
    # GIVEN a finished job whose row 7 the API refused: its report counts one failed row
    api.decide = lambda call: Reply(400) if call.payload.get("id") == "7" else Reply()
    rows = "".join(f"{n},name {n}\n" for n in range(1, 11))
    run_job(session, stack, ListSink(), f"id,name\n{rows}".encode())
    jobs = JobStore(session.client("dynamodb"), stack.outputs["JobsTableName"])
    (job,) = jobs.list()
    s3, bucket = session.client("s3"), stack.outputs["DataBucketName"]

    def stored_report() -> dict[str, Any]:
        body = s3.get_object(Bucket=bucket, Key=report_key(job.job_id))["Body"].read()
        return dict(json.loads(body))

    first = stored_report()
    assert (first["state"], first["rows_posted"], first["rows_failed"]) == ("done_with_failures", 9, 1)
    # WHEN the API is fixed and the dead-lettered row is redriven and posted
    api.decide = lambda call: Reply()
    dead = receive_all(session, stack.outputs["DeadLetterQueueUrl"], visibility=30)
    worker = build_worker(stack.functions["WorkerFunction"].environment, session, metrics_sink=ListSink())
    response = worker.handle(event_for(stack, "WorkerFunction", dead), context_for(stack, "WorkerFunction"))
    assert response == {"batchItemFailures": []}
    combine_handed_off(session, stack)
    # THEN the report says what the job came to: every row posted
    second = stored_report()
    assert (second["state"], second["rows_posted"], second["rows_failed"]) == ("done", 10, 0)
    # AND looking again reports nothing new
    again = JobReporter(jobs, s3, session.client("events")).report_if_finished(job.job_id)
    assert again is None
