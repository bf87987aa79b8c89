"""Cancel, halt and resume: the worker and splitter cores against the emulator and a loopback API."""

from __future__ import annotations

import csv
import io
import threading
from collections import Counter
from typing import Any

import boto3
import pytest

from fanout.contract import Row, WorkMessage
from fanout.jobs import CANCELLED, HALTED, SPLIT_STOPPED, Job, JobStore
from fanout.metrics import MetricsTarget
from fanout.s3events import ObjectRef, objects_created
from fanout.settings import SplitterSettings
from fanout.thresholds import FailureThreshold
from infra.demo.api import Call, DemoApi, Reply
from infra.local.stack import LocalStack
from infra.ops.job_control import cancel, resume
from infra.ops.stack_ref import StackConnection
from splitter.core import Splitter
from tests.functional.helpers import (
    full_messages,
    invoke,
    receive_all,
    work_messages,
)
from worker.ledger import JobNotStopped, Ledger, Outcome

JOB = "job-1"


def jobs_of(session: boto3.Session, stack: LocalStack) -> JobStore:
    return JobStore(session.client("dynamodb"), stack.outputs["JobsTableName"])


def current(session: boto3.Session, stack: LocalStack, job_id: str = JOB) -> Job:
    job = jobs_of(session, stack).get(job_id)
    assert job is not None
    return job


def message(seq: int, first: int, count: int) -> WorkMessage:
    return WorkMessage(JOB, seq, ("id",), tuple(Row(n, (str(n),)) for n in range(first, first + count)))


def setup_job(
    session: boto3.Session,
    stack: LocalStack,
    messages: list[WorkMessage],
    threshold: FailureThreshold | None = None,
) -> list[Any]:
    jobs = jobs_of(session, stack)
    jobs.create(JOB, stack.outputs["DataBucketName"], "incoming/x.csv", "v1", threshold)
    jobs.finish_split(JOB, sum(len(m.rows) for m in messages), 0)
    sqs = session.client("sqs")
    for m in messages:
        sqs.send_message(QueueUrl=stack.outputs["WorkQueueUrl"], MessageBody=m.to_body())
    return receive_all(session, stack.outputs["WorkQueueUrl"], visibility=60)


def held_rows(session: boto3.Session, stack: LocalStack) -> list[int]:
    held = receive_all(session, stack.outputs["HeldQueueUrl"])
    return sorted(row.number for m in held for row in WorkMessage.from_body(m["Body"]).rows)


def connection(session: boto3.Session, stack: LocalStack) -> StackConnection:
    return StackConnection(session, stack.outputs, "the test's stack")


def results_of(session: boto3.Session, stack: LocalStack, job: Job) -> list[dict[str, str]]:
    body = session.client("s3").get_object(Bucket=stack.outputs["DataBucketName"], Key=job.results_key)
    return list(csv.DictReader(io.StringIO(body["Body"].read().decode("utf-8"))))


def outcomes(session: boto3.Session, stack: LocalStack, job: Job) -> dict[str, int]:
    """The outcomes the job's results file gives, counted."""
    return dict(Counter(row["outcome"] for row in results_of(session, stack, job)))


def assert_counts_add_up(job: Job) -> None:
    assert job.rows_total == job.rows_posted + job.rows_failed + job.rows_rejected + job.rows_cancelled


@pytest.fixture
def slow_api(api: DemoApi) -> DemoApi:
    api._latency = (0.01, 0.01)
    return api


def test_a_cancel_seen_at_a_checkpoint_stops_new_rows_and_holds_the_rest(
    session: boto3.Session, stack: LocalStack, slow_api: DemoApi
) -> None:
    # GIVEN one invocation with 2,000 rows, and a cancel once the API has seen 50 calls
    received = setup_job(session, stack, [message(1, 1, 1000), message(2, 1001, 1000)])
    cancelled = threading.Event()

    def cancel_at_50(call: Call) -> Reply:
        if sum(slow_api.attempts.values()) == 50 and not cancelled.is_set():
            cancelled.set()
            jobs_of(session, stack).stop(JOB, CANCELLED, "wrong file")
        return Reply()

    slow_api.decide = cancel_at_50
    # WHEN the invocation runs on
    response = invoke(session, stack, received)
    # THEN it saw the cancel at a checkpoint and started no more rows: the messages are done with
    assert cancelled.is_set()
    assert response == {"batchItemFailures": []}
    job = current(session, stack)
    assert job.state == "cancelled" and job.control_reason == "wrong file"
    calls = sum(slow_api.attempts.values())
    assert 50 <= calls < 2000
    # ... every call made was a row posted, every other row is cancelled and held for a resume
    assert job.rows_posted == len(slow_api.successes) == calls
    assert job.rows_cancelled == 2000 - calls
    assert_counts_add_up(job)
    posted = {int(key.rsplit(":", 1)[1]) for key in slow_api.successes}
    assert held_rows(session, stack) == sorted(set(range(1, 2001)) - posted)
    assert job.is_finished


def test_a_stopped_jobs_message_posts_nothing_and_resume_posts_every_row_once(
    session: boto3.Session, stack: LocalStack, api: DemoApi
) -> None:
    # GIVEN a job cancelled before its message reached a worker
    received = setup_job(session, stack, [message(1, 1, 30)])
    cancel(connection(session, stack), JOB, "not yet")
    # WHEN a worker receives it
    assert invoke(session, stack, received) == {"batchItemFailures": []}
    # THEN no call was made; its rows are cancelled and held
    assert not api.attempts
    job = current(session, stack)
    assert (job.state, job.rows_cancelled, job.is_finished) == ("cancelled", 30, True)
    assert held_rows(session, stack) == list(range(1, 31))
    # ... and the job's results file gives each row the outcome `cancelled`
    assert outcomes(session, stack, job) == {"cancelled": 30}
    # WHEN the job is resumed and a worker takes what resume sent back
    resumed = resume(connection(session, stack), JOB)
    assert resumed.held_rows == 30
    assert receive_all(session, stack.outputs["HeldQueueUrl"]) == []
    again = receive_all(session, stack.outputs["WorkQueueUrl"], visibility=60)
    assert invoke(session, stack, again) == {"batchItemFailures": []}
    # THEN every row was posted once, and nothing counts as cancelled any more
    job = current(session, stack)
    assert (job.state, job.rows_posted, job.rows_cancelled) == ("done", 30, 0)
    assert outcomes(session, stack, job) == {"posted": 30}
    assert set(api.successes.values()) == {1} and len(api.successes) == 30


def test_rows_cancelled_twice_are_counted_and_held_once(
    session: boto3.Session, stack: LocalStack, api: DemoApi
) -> None:
    received = setup_job(session, stack, [message(1, 1, 10)])
    cancel(connection(session, stack), JOB, "twice")
    invoke(session, stack, received)
    # WHEN SQS delivers the same message again
    invoke(session, stack, received)
    # THEN the counts did not move and the rows are held once
    assert current(session, stack).rows_cancelled == 10
    assert held_rows(session, stack) == list(range(1, 11))


def test_a_job_resumed_while_its_rows_were_being_cancelled_keeps_them_open(
    session: boto3.Session, stack: LocalStack
) -> None:
    # GIVEN a running job (its stop was cleared by a resume after a worker read it)
    setup_job(session, stack, [message(1, 1, 10)])
    ledger = Ledger(
        session.client("dynamodb"), stack.outputs["LedgerTableName"], stack.outputs["JobsTableName"]
    )
    # WHEN the worker records rows cancelled
    with pytest.raises(JobNotStopped) as raised:
        ledger.record([Outcome(f"{JOB}#1", JOB, frozenset({1}), cancelled=frozenset(range(2, 11)))])
    # THEN nothing was recorded: the rows stay open for the running job to post
    assert raised.value.job_ids == {JOB}
    assert ledger.settled(f"{JOB}#1").posted == frozenset()
    assert current(session, stack).rows_cancelled == 0


def test_a_refusing_api_halts_the_job_after_about_its_minimum_rows(
    session: boto3.Session, stack: LocalStack, slow_api: DemoApi
) -> None:
    # GIVEN an API that refuses every row, and a job that tolerates 10% of failures after 100 rows
    slow_api.decide = lambda call: Reply(422, body=b'{"error":"no such field"}')
    received = setup_job(
        session, stack, [message(1, 1, 1000), message(2, 1001, 1000)], FailureThreshold(10, 100)
    )
    # WHEN one invocation posts its 2,000 rows
    assert invoke(session, stack, received) == {"batchItemFailures": []}
    # THEN the job halted with the reason, after about a hundred calls (the rest held)
    job = current(session, stack)
    assert job.state == "halted"
    assert job.control_reason.startswith("1") and "rows failed" in job.control_reason
    assert "> 10%" in job.control_reason
    calls = sum(slow_api.attempts.values())
    assert 100 <= calls <= 300
    assert (job.rows_failed, job.rows_cancelled) == (calls, 2000 - calls)
    assert_counts_add_up(job)


def test_the_splitter_stops_at_a_checkpoint_counts_the_rest_and_resume_splits_on(
    session: boto3.Session, stack: LocalStack
) -> None:
    # GIVEN a file of 12,000 rows (120 messages; row 10 malformed), cancelled at the split's first
    # checkpoint
    body = "id\n" + "".join(f"{n}\n" if n != 10 else "10,x\n" for n in range(1, 12_001))
    s3 = session.client("s3")
    bucket = stack.outputs["DataBucketName"]
    s3.put_object(Bucket=bucket, Key="incoming/big.csv", Body=body.encode())
    env = full_messages(stack.functions["SplitterFunction"].environment)
    settings = SplitterSettings.from_env(env)
    jobs = jobs_of(session, stack)

    class CancelledAtFirstCheckpoint(JobStore):
        def save_checkpoint(self, job_id: str, *args: Any, **kwargs: Any) -> Job:
            self.stop(job_id, CANCELLED, "stop the split")
            return super().save_checkpoint(job_id, *args, **kwargs)

    splitting = CancelledAtFirstCheckpoint(session.client("dynamodb"), settings.jobs_table)
    splitter = Splitter(s3, session.client("sqs"), splitting, settings, MetricsTarget.from_env(env, None))
    ref = ObjectRef(bucket, "incoming/big.csv", None, "")
    # WHEN it is split
    result = splitter.split(ref)
    # THEN 50 messages went out (rows 1-5,001 but row 10), and the rest of the file counts as cancelled
    assert len(work_messages(session, stack)) == 50
    job = current(session, stack, result.job_id)
    assert (job.split_state, job.rows_total, job.rows_unsplit, job.rows_cancelled) == (
        SPLIT_STOPPED,
        12_000,
        6_999,
        6_999,
    )
    # WHEN a worker settles the 50 messages (their rows cancelled: the job is stopped)
    sent = receive_all(session, stack.outputs["WorkQueueUrl"], visibility=60)
    invoke(session, stack, sent)
    sqs, work_url = session.client("sqs"), stack.outputs["WorkQueueUrl"]
    for m in sent:  # as the event source mapping does with a batch that succeeded
        sqs.delete_message(QueueUrl=work_url, ReceiptHandle=m["ReceiptHandle"])
    # THEN the job's results file has one record per row of the file: the rows never sent too,
    # cancelled with the reason, and the malformed row rejected
    job = current(session, stack, result.job_id)
    assert job.is_finished and job.results_key
    rows = results_of(session, stack, job)
    assert [int(r["row_number"]) for r in rows] == list(range(1, 12_001))
    assert Counter(r["outcome"] for r in rows) == {"cancelled": 11_999, "rejected": 1}
    assert rows[9]["outcome"] == "rejected"
    assert {r["reason"] for r in rows[5001:]} == {"not sent: its job was cancelled (stop the split)"}
    # WHEN it is resumed, THEN the split is started again from its checkpoint
    resumed = resume(connection(session, stack), result.job_id)
    assert resumed.split_restarted
    # (the intake queue also holds the upload's own notification, which the split went past)
    notifications = receive_all(session, stack.outputs["IntakeQueueUrl"])
    job = current(session, stack, result.job_id)
    # (the rows the workers cancelled count so until posted: resume sent them back to the queue)
    assert (job.state, job.rows_cancelled) == ("splitting", 5_000)
    plain = Splitter(s3, session.client("sqs"), jobs, settings, MetricsTarget.from_env(env, None))
    for notification in notifications:
        for again in objects_created(notification["Body"]):
            plain.split(again)
    messages = work_messages(session, stack)
    assert len(messages) == 120 and [m.seq for m in messages] == list(range(1, 121))
    job = current(session, stack, result.job_id)
    assert (job.state, job.rows_total) == ("running", 12_000)


def test_halting_is_recorded_once_with_its_reason(session: boto3.Session, stack: LocalStack) -> None:
    jobs = jobs_of(session, stack)
    jobs.create(JOB, "b", "incoming/x.csv", "v1")
    assert jobs.stop(JOB, HALTED, "first")
    assert not jobs.stop(JOB, CANCELLED, "second")
    assert current(session, stack).control_reason == "first"
