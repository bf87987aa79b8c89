"""Every row's outcome in results/<job>.csv, whatever the deliveries: against the emulator and a real API."""

from __future__ import annotations

import csv
import io
import json
import threading
from typing import Any

import boto3
import pytest

from fanout.jobs import JobStore
from fanout.results import RowRecord, results_key
from fanout.results_combine import ResultsCombiner
from infra.demo.api import DemoApi, Reply, always_ok
from infra.local.stack import LocalStack, local_stack
from infra.ops.dead_letter_access import dead_letters_for
from infra.ops.redrive import RedriveRequest
from tests.functional.helpers import (
    JOB,
    combine_handed_off,
    invoke,
    job,
    kill_part_way,
    message,
    receive_all,
    redrive_for_test,
    refuse_multiples_of_seven,
    setup_job,
)
from worker.ledger import Ledger, Outcome
from worker.results_log import PartRows, ResultsLog


def results(session: boto3.Session, stack: LocalStack) -> list[dict[str, str]]:
    body = session.client("s3").get_object(Bucket=stack.outputs["DataBucketName"], Key=results_key(JOB))[
        "Body"
    ]
    return list(csv.DictReader(io.StringIO(body.read().decode("utf-8"))))


def outcomes(rows: list[dict[str, str]]) -> dict[int, str]:
    return {int(r["row_number"]): r["outcome"] for r in rows}


def one_record_per_row(rows: list[dict[str, str]], total: int) -> None:
    assert [int(r["row_number"]) for r in rows] == list(range(1, total + 1))


def test_a_finished_job_has_one_record_per_row_with_what_the_api_answered(
    session: boto3.Session, stack: LocalStack, api: DemoApi
) -> None:
    # GIVEN three messages, and an API that refuses ids that are multiples of seven
    api.decide = refuse_multiples_of_seven
    received = setup_job(session, stack, [message(1, 1, 30), message(2, 31, 30), message(3, 61, 5)])
    # WHEN one invocation handles them and so finishes the job
    invoke(session, stack, received)
    # THEN the results file has every row once, in order, with its status, attempts and latency
    rows = results(session, stack)
    one_record_per_row(rows, 65)
    by_row = {int(r["row_number"]): r for r in rows}
    assert by_row[7] == {**by_row[7], "outcome": "failed", "http_status": "400", "reason": "HTTP 400"}
    assert by_row[8] == {
        **by_row[8],
        "outcome": "posted",
        "http_status": "200",
        "attempts": "1",
        "reason": "",
    }
    assert float(by_row[8]["latency_ms"]) >= 0
    assert {n for n, o in outcomes(rows).items() if o == "failed"} == set(range(7, 66, 7))
    # AND the job and its report say where the file is
    current = job(session, stack)
    assert current.results_key == results_key(JOB)
    report = session.client("s3").get_object(Bucket=current.bucket, Key=f"reports/{JOB}.json")["Body"]
    assert json.loads(report.read())["results"] == f"s3://{current.bucket}/{results_key(JOB)}"
    # AND the parts the file was combined from are gone
    listed = session.client("s3").list_objects_v2(Bucket=current.bucket, Prefix=f"results/{JOB}/")
    assert listed.get("KeyCount", 0) == 0


def test_a_message_delivered_twice_at_once_and_again_later_leaves_one_record_per_row(
    session: boto3.Session, stack: LocalStack, api: DemoApi
) -> None:
    # GIVEN SQS hands the same messages to two invocations at the same time
    received = setup_job(session, stack, [message(1, 1, 40), message(2, 41, 40)])
    threads = [threading.Thread(target=invoke, args=(session, stack, received)) for _ in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    # AND once more after both settled
    invoke(session, stack, received)
    # THEN the results have each row once, posted
    rows = results(session, stack)
    one_record_per_row(rows, 80)
    assert set(outcomes(rows).values()) == {"posted"}


def test_a_killed_invocation_leaves_one_record_per_row_once_redelivered(
    session: boto3.Session, stack: LocalStack, api: DemoApi, tmp_path: Any
) -> None:
    # GIVEN a message of 200 rows posted 2 at a time, 20 ms a call, by an invocation killed part way
    received = kill_part_way(session, stack, api, tmp_path)
    assert 0 < job(session, stack).rows_posted < 200  # its flushes had recorded some rows
    # WHEN the message is delivered again
    api.decide = always_ok
    invoke(session, stack, received)
    # THEN the results have every row once, posted
    rows = results(session, stack)
    one_record_per_row(rows, 200)
    assert set(outcomes(rows).values()) == {"posted"}


def test_a_redrive_replaces_the_failed_records_with_what_it_got(
    session: boto3.Session, stack: LocalStack, api: DemoApi
) -> None:
    # GIVEN a finished job whose multiples of seven were refused
    api.decide = refuse_multiples_of_seven
    received = setup_job(session, stack, [message(1, 1, 30), message(2, 31, 30)])
    invoke(session, stack, received)
    assert set(outcomes(results(session, stack)).values()) == {"posted", "failed"}
    # WHEN the DLQ is redriven while the API answers them 409
    api.decide = lambda call: Reply(409, body=b"{}") if int(call.payload["id"]) % 7 == 0 else Reply()
    redrive = redrive_for_test(session, stack)
    redrive.run(RedriveRequest())
    _work(session, stack)
    # THEN the results say so: still failed, with the new answer
    refused = {n: r["http_status"] for n, r in enumerate(results(session, stack), 1) if n % 7 == 0}
    assert refused == {n: "409" for n in range(7, 61, 7)}
    # AND redriven once more, once the API takes them
    api.decide = always_ok
    redrive.run(RedriveRequest())
    _work(session, stack)
    # THEN every row has one record, posted, and the redriven rows show their last answer
    rows = results(session, stack)
    one_record_per_row(rows, 60)
    assert set(outcomes(rows).values()) == {"posted"}
    assert {r["http_status"] for r in rows} == {"200"}
    assert job(session, stack).state == "done"


def _work(session: boto3.Session, stack: LocalStack) -> None:
    received = receive_all(session, stack.outputs["WorkQueueUrl"], visibility=30)
    assert received
    invoke(session, stack, received)


def test_rows_counted_failed_from_the_dlq_get_their_record(
    session: boto3.Session, stack: LocalStack, api: DemoApi
) -> None:
    # GIVEN a job whose only message's invocations kept dying after rows 1-3 were posted
    received = setup_job(session, stack, [message(1, 1, 10)])
    book = _ledger(session, stack)
    book.record([Outcome(f"{JOB}#1", JOB, frozenset({1, 2, 3}))])
    session.client("sqs").send_message(
        QueueUrl=stack.outputs["DeadLetterQueueUrl"], MessageBody=received[0]["Body"]
    )
    # WHEN the DLQ is read (the policy-moved message's open rows count as failed)
    dead_letters_for(session, stack.outputs).scan()
    combine_handed_off(session, stack)
    # THEN the results say so, row by row
    rows = results(session, stack)
    one_record_per_row(rows, 10)
    assert outcomes(rows) == {n: "posted" if n <= 3 else "failed" for n in range(1, 11)}
    assert rows[5]["reason"] == "moved to the DLQ by the redrive policy"


def _ledger(session: boto3.Session, stack: LocalStack) -> Ledger:
    out = stack.outputs
    log = ResultsLog(session.client("s3"), out["DataBucketName"], out["ResultsMode"])
    return Ledger(session.client("dynamodb"), out["LedgerTableName"], out["JobsTableName"], results=log)


def test_many_parts_are_merged_in_passes_and_parts_no_transaction_named_are_left_out(
    session: boto3.Session, stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a job of 40 messages of 5 rows, each settled by a transaction of its own
    monkeypatch.setattr("fanout.results_combine.MAX_OPEN_STREAMS", 4)
    setup_job(session, stack, [message(seq, 5 * seq - 4, 5) for seq in range(1, 41)])
    book = _ledger(session, stack)
    for seq in range(40, 0, -1):
        rows = frozenset(range(5 * seq - 4, 5 * seq + 1))
        book.record([Outcome(f"{JOB}#{seq}", JOB, rows - {5 * seq}, frozenset({5 * seq}))])
    # AND a part whose transaction never happened, saying otherwise
    out = stack.outputs
    orphan = ResultsLog(session.client("s3"), out["DataBucketName"], "all")
    orphan.write(JOB, [_part_rows(1, 2, 1, "failed")])
    # WHEN the results are combined (4 streams at a time: three passes)
    jobs = JobStore(session.client("dynamodb"), out["JobsTableName"])
    current = jobs.get(JOB)
    assert current is not None
    combiner = ResultsCombiner(
        session.client("s3"), session.client("dynamodb"), out["LedgerTableName"], "all"
    )
    combiner.combine(current)
    # THEN every row has its one record, the orphan's claim is not among them
    rows = results(session, stack)
    one_record_per_row(rows, 200)
    assert outcomes(rows) == {n: "failed" if n % 5 == 0 else "posted" for n in range(1, 201)}
    # AND only the orphan is left (its writer might still commit it)
    listed = session.client("s3").list_objects_v2(Bucket=out["DataBucketName"], Prefix=f"results/{JOB}/")
    assert [o["Key"].rsplit("/", 2)[1] for o in listed.get("Contents", [])] == ["parts"]


def _part_rows(seq: int, version: int, row: int, outcome: str) -> PartRows:
    return PartRows(seq, version, (RowRecord(row, outcome),))


@pytest.mark.parametrize("mode", ["failures", "none"])
def test_results_mode_failures_keeps_the_rows_not_posted_and_none_writes_nothing(
    session: boto3.Session, api: DemoApi, mode: str
) -> None:
    stack = local_stack(
        session, {"ApiUrl": api.url, "MaxReceiveCount": "2", "ResultsMode": mode}, create=True
    )
    api.decide = refuse_multiples_of_seven
    received = setup_job(session, stack, [message(1, 1, 30)])
    invoke(session, stack, received)
    listed = session.client("s3").list_objects_v2(Bucket=stack.outputs["DataBucketName"], Prefix="results/")
    if mode == "none":
        assert listed.get("KeyCount", 0) == 0
        assert job(session, stack).results_key == ""
        return
    assert [int(r["row_number"]) for r in results(session, stack)] == [7, 14, 21, 28]
