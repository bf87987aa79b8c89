"""Where a job's results are combined: the splitter, from a message, redone until it completes,
the newest results written last. Against the emulator and a real API on loopback."""

from __future__ import annotations

import argparse
import csv
import io
import json
import time
from typing import Any

import boto3
import pytest

from fanout.jobs import JobStore
from fanout.results import results_key
from fanout.results_handoff import combine_request
from infra.cli import status
from infra.demo.api import DemoApi, always_ok
from infra.local.emulator import Emulator
from infra.local.stack import LocalStack
from infra.ops.redrive import RedriveRequest
from tests.functional.helpers import (
    JOB,
    combine_handed_off,
    context_for,
    event_for,
    invoke,
    job,
    message,
    receive_all,
    redrive_for_test,
    refuse_multiples_of_seven,
    setup_job,
    split,
)
from worker.handler import build as build_worker


def results(session: boto3.Session, stack: LocalStack) -> list[dict[str, str]]:
    key = results_key(JOB)
    body = session.client("s3").get_object(Bucket=stack.outputs["DataBucketName"], Key=key)["Body"]
    return list(csv.DictReader(io.StringIO(body.read().decode("utf-8"))))


def outcomes(session: boto3.Session, stack: LocalStack) -> dict[int, str]:
    rows = results(session, stack)
    numbers = [int(r["row_number"]) for r in rows]
    assert numbers == sorted(set(numbers)), "one record per row, in row order"
    return {int(r["row_number"]): r["outcome"] for r in rows}


def handed_off(session: boto3.Session, stack: LocalStack) -> list[Any]:
    """The results combines waiting in the splitter's queue (received, hidden for 30 s; its
    other messages, such as S3's test event, left visible)."""
    sqs, url = session.client("sqs"), stack.outputs["IntakeQueueUrl"]
    received = receive_all(session, url, visibility=30)
    for other in (m for m in received if combine_request(m["Body"]) is None):
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=other["ReceiptHandle"], VisibilityTimeout=0)
    return [m for m in received if combine_request(m["Body"]) is not None]


def work_once(session: boto3.Session, stack: LocalStack, received: list[Any]) -> None:
    """A worker invocation alone: what it hands over stays in the splitter's queue."""
    worker = build_worker(stack.functions["WorkerFunction"].environment, session=session)
    response = worker.handle(
        event_for(stack, "WorkerFunction", received), context_for(stack, "WorkerFunction")
    )
    assert response == {"batchItemFailures": []}


def fail_once(session: boto3.Session, operation: str, key: str, then: Any = None) -> list[str]:
    """The next S3 `operation` on `key` by any client of the session fails (after running `then`),
    as a combine killed at its upload; the list records that it did."""
    failed: list[str] = []

    def hook(params: dict[str, Any], **_: Any) -> None:
        if params.get("Key") == key and not failed:
            failed.append(key)
            if then is not None:
                then()
                return
            raise ConnectionError(f"injected: {operation} of {key}")

    session.events.register(f"before-parameter-build.s3.{operation}", hook)
    return failed


def wait_for_combine(session: boto3.Session, stack: LocalStack) -> None:
    """Runs the combines handed over until one ran (a failed one comes back after a backoff)."""
    deadline = time.monotonic() + 30
    while combine_handed_off(session, stack) == 0:
        assert time.monotonic() < deadline, "no results combine came back"
        time.sleep(0.2)


def status_lines(emulator: Emulator, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """What `fanout status JOB` prints about the report."""
    args = argparse.Namespace(stack=None, region=None, endpoint_url=emulator.endpoint_url, job=JOB)
    assert status.execute(args) == 0
    return [line for line in capsys.readouterr().out.splitlines() if line.startswith("report:")]


def test_a_finished_jobs_results_are_combined_by_the_splitter_from_a_message(
    session: boto3.Session,
    stack: LocalStack,
    api: DemoApi,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a worker that settles a job's last row
    received = setup_job(session, stack, [message(1, 1, 20)])
    work_once(session, stack, received)
    # THEN it left the combine to the splitter: one message, no results yet, the report claimed
    (request,) = handed_off(session, stack)
    assert job(session, stack).results_key == ""
    (pending,) = status_lines(emulator, capsys)
    assert pending.startswith("report: being written, results first (the claim holds until ")
    # WHEN the splitter handles it
    response = split(session, stack, event_for(stack, "SplitterFunction", [request]))
    # THEN the results and the report are written
    assert response == {"batchItemFailures": []}
    assert set(outcomes(session, stack).values()) == {"posted"}
    assert job(session, stack).results_key == results_key(JOB)
    written = job(session, stack).reported_at
    assert written
    report_uri = f"s3://{stack.outputs['DataBucketName']}/reports/{JOB}.json"
    assert status_lines(emulator, capsys) == [f"report: {report_uri} (written {written})"]
    # AND the same message delivered again does nothing more
    assert split(session, stack, event_for(stack, "SplitterFunction", [request])) == {"batchItemFailures": []}
    assert handed_off(session, stack) == []


def test_a_combine_that_fails_at_its_upload_is_redone_with_one_record_per_row(
    session: boto3.Session, stack: LocalStack, api: DemoApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a finished job of 12 messages, merged 4 streams at a time (passes), refusals among them
    monkeypatch.setattr("fanout.results_combine.MAX_OPEN_STREAMS", 4)
    api.decide = refuse_multiples_of_seven
    received = setup_job(session, stack, [message(seq, 5 * seq - 4, 5) for seq in range(1, 13)])
    # AND a combine that dies completing the results file's upload
    failed = fail_once(session, "CompleteMultipartUpload", results_key(JOB))
    work_once(session, stack, received)
    (request,) = handed_off(session, stack)
    response = split(session, stack, event_for(stack, "SplitterFunction", [request]))
    assert failed and response["batchItemFailures"]
    assert job(session, stack).results_key == ""
    # WHEN its message comes back (after the splitter's backoff) and is handled again
    wait_for_combine(session, stack)
    # THEN the results file has exactly one record per row, with its outcome, and the job its report
    assert outcomes(session, stack) == {n: "failed" if n % 7 == 0 else "posted" for n in range(1, 61)}
    current = job(session, stack)
    assert current.results_key == results_key(JOB) and current.reported_at
    listed = session.client("s3").list_objects_v2(Bucket=current.bucket, Prefix=f"results/{JOB}/")
    assert listed.get("KeyCount", 0) == 0  # parts and merge passes cleaned up


def test_a_claim_left_by_a_dead_reporter_is_taken_again_once_stale(
    session: boto3.Session, stack: LocalStack, api: DemoApi
) -> None:
    # GIVEN a finished job whose report a reporter claimed and then died before handing it over
    received = setup_job(session, stack, [message(1, 1, 10), message(2, 11, 10)])
    work_once(session, stack, received)
    handed_off(session, stack)  # the message the dead reporter never sent: taken away
    jobs = JobStore(session.client("dynamodb"), stack.outputs["JobsTableName"])
    # WHEN the batch comes back to a worker while the claim is fresh: nobody else claims it
    invoke(session, stack, received)
    assert job(session, stack).results_key == ""
    # ... and once the claim is older than its lease (its holder cannot be alive any more)
    session.client("dynamodb").update_item(
        TableName=jobs.table,
        Key={"job_id": {"S": JOB}},
        UpdateExpression="SET report_until = :past",
        ExpressionAttributeValues={":past": {"N": repr(time.time() - 1)}},
    )
    invoke(session, stack, received)
    # THEN the job is reported with one record per row
    assert outcomes(session, stack) == {n: "posted" for n in range(1, 21)}
    assert job(session, stack).results_key == results_key(JOB)


def test_a_redrive_settling_while_a_combine_runs_has_its_outcome_written_last(
    session: boto3.Session, stack: LocalStack, api: DemoApi
) -> None:
    # GIVEN a finished job whose multiples of seven were refused, in two messages now dead-lettered
    api.decide = refuse_multiples_of_seven
    invoke(session, stack, setup_job(session, stack, [message(1, 1, 30), message(2, 31, 30)]))
    assert {n for n, o in outcomes(session, stack).items() if o == "failed"} == set(range(7, 61, 7))
    # AND both redriven once the API takes them; a worker settles the first, which hands a combine over
    api.decide = always_ok
    redrive_for_test(session, stack).run(RedriveRequest())
    first, second = receive_all(session, stack.outputs["WorkQueueUrl"], visibility=30)
    work_once(session, stack, [first])
    (older,) = handed_off(session, stack)
    # WHEN the second settles while that combine is about to write the results file
    fail_once(
        session, "CompleteMultipartUpload", results_key(JOB), then=lambda: work_once(session, stack, [second])
    )
    assert split(session, stack, event_for(stack, "SplitterFunction", [older])) == {"batchItemFailures": []}
    # THEN the second's worker could not claim the report while the combine held it, and the
    # combine, once done, claimed the job again for what it could not have seen
    (newer,) = handed_off(session, stack)
    assert split(session, stack, event_for(stack, "SplitterFunction", [newer])) == {"batchItemFailures": []}
    # AND the file written last has every redriven row posted
    assert outcomes(session, stack) == {n: "posted" for n in range(1, 61)}
    report_key = f"reports/{JOB}.json"
    report = session.client("s3").get_object(Bucket=stack.outputs["DataBucketName"], Key=report_key)
    assert json.loads(report["Body"].read())["rows_posted"] == 60
