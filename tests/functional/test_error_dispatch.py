"""What each function does with a PermanentError and a RetryableError, against the emulator."""

from __future__ import annotations

import time
from typing import Any

import boto3

from fanout.errors import PermanentError, RetryableError
from fanout.jobs import JobStore
from fanout.queues import UNREADABLE_REASON_ATTRIBUTE
from infra.demo.api import DemoApi
from infra.local.stack import LocalStack
from infra.ops.dead_letters import DeadLetters
from splitter.handler import build as build_splitter
from tests.functional.helpers import JOB, context_for, event_for, invoke, job, message, receive_all, setup_job
from worker.ledger import Ledger

VISIBLE_AGAIN_WITHIN_S = 10.0


def _unreadable(session: boto3.Session, queue_url: str) -> list[tuple[str, str]]:
    raw = session.client("sqs").receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=10,
        MessageAttributeNames=["All"],
        WaitTimeSeconds=1,
        VisibilityTimeout=0,
    )
    return [
        (
            m["Body"],
            m.get("MessageAttributes", {}).get(UNREADABLE_REASON_ATTRIBUTE, {}).get("StringValue", ""),
        )
        for m in raw.get("Messages", [])
    ]


def _visible_again(session: boto3.Session, queue_url: str, within_s: float) -> list[Any]:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        batch = session.client("sqs").receive_message(QueueUrl=queue_url, WaitTimeSeconds=1)
        if batch.get("Messages"):
            return batch["Messages"]
    return []


def test_an_unreadable_work_message_goes_to_the_dlq_at_once_with_its_reason(
    session: boto3.Session, stack: LocalStack, api: DemoApi
) -> None:
    # GIVEN a batch of one work message and one body that is not a work message
    sqs = session.client("sqs")
    sqs.send_message(QueueUrl=stack.outputs["WorkQueueUrl"], MessageBody='{"v": 1, "job": "x"}')
    received = setup_job(session, stack, [message(1, 1, 5)])
    # WHEN the worker handles it (its first delivery)
    response = invoke(session, stack, received)
    # THEN nothing is handed back for redelivery: the good rows are posted ...
    assert response == {"batchItemFailures": []}
    assert sorted(api.successes) == sorted(f"{JOB}:{n}" for n in range(1, 6))
    assert job(session, stack).rows_posted == 5
    # ... and the unreadable body is in the DLQ as it came, with why
    ((body, reason),) = _unreadable(session, stack.outputs["DeadLetterQueueUrl"])
    assert body == '{"v": 1, "job": "x"}'
    assert "malformed work message" in reason
    # AND `fanout dlq` reads that reason
    ledger = Ledger(
        session.client("dynamodb"), stack.outputs["LedgerTableName"], stack.outputs["JobsTableName"]
    )
    (dead,) = DeadLetters(sqs, stack.outputs["DeadLetterQueueUrl"], ledger).scan()
    assert dead.message is None and "malformed work message" in dead.unreadable_reason


def _drop(session: boto3.Session, stack: LocalStack) -> dict[str, Any]:
    session.client("s3").put_object(
        Bucket=stack.outputs["DataBucketName"], Key="incoming/a.csv", Body=b"id\n1\n2\n"
    )
    return event_for(stack, "SplitterFunction", receive_all(session, stack.outputs["IntakeQueueUrl"], 30))


def test_an_unreadable_intake_message_goes_to_the_intake_dlq_with_its_reason(
    session: boto3.Session, stack: LocalStack
) -> None:
    # GIVEN an intake message that is JSON but no S3 notification
    sqs = session.client("sqs")
    sqs.send_message(
        QueueUrl=stack.outputs["IntakeQueueUrl"],
        MessageBody='{"Records": [{"eventName": "ObjectCreated:Put"}]}',
    )
    event = event_for(stack, "SplitterFunction", receive_all(session, stack.outputs["IntakeQueueUrl"], 30))
    # WHEN the splitter handles it
    splitter = build_splitter(stack.functions["SplitterFunction"].environment, session=session)
    response = splitter.handle(event, context_for(stack, "SplitterFunction"))
    # THEN it is done with, and in the intake DLQ with why
    assert response == {"batchItemFailures": []}
    ((_, reason),) = _unreadable(session, stack.outputs["IntakeDeadLetterQueueUrl"])
    assert "not an S3 event notification" in reason


def test_a_permanent_error_splitting_an_object_fails_its_job_and_the_notification_is_done(
    session: boto3.Session, stack: LocalStack
) -> None:
    def refuse() -> None:
        raise PermanentError("the work queue refuses these messages")

    # GIVEN a splitter whose sends fail permanently
    event = _drop(session, stack)
    splitter = build_splitter(
        stack.functions["SplitterFunction"].environment, session=session, before_send=refuse
    )
    # WHEN it handles the drop
    response = splitter.handle(event, context_for(stack, "SplitterFunction"))
    # THEN the job failed with the reason, and the notification is not handed back
    assert response == {"batchItemFailures": []}
    (failed,) = JobStore(session.client("dynamodb"), stack.outputs["JobsTableName"]).list()
    assert failed.state == "failed" and "refuses these messages" in failed.error


def test_a_retryable_error_splitting_hands_the_notification_back_for_a_retry_in_seconds(
    session: boto3.Session, stack: LocalStack
) -> None:
    def fail() -> None:
        raise RetryableError("SQS did not accept 1 messages")

    # GIVEN a splitter whose sends fail for now
    event = _drop(session, stack)
    splitter = build_splitter(
        stack.functions["SplitterFunction"].environment, session=session, before_send=fail
    )
    # WHEN it handles the drop
    response = splitter.handle(event, context_for(stack, "SplitterFunction"))
    # THEN the notification is reported failed ...
    (dropped,) = [r["messageId"] for r in event["Records"] if "a.csv" in r["body"]]
    assert [f["itemIdentifier"] for f in response["batchItemFailures"]] == [dropped]
    # ... and comes back within seconds, not after the intake queue's 90-minute visibility timeout
    assert _visible_again(session, stack.outputs["IntakeQueueUrl"], VISIBLE_AGAIN_WITHIN_S)
