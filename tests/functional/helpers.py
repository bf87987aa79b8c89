"""Driving the handlers' cores over real connections: SQS on the emulator, the API on loopback."""

from __future__ import annotations

import json
from typing import Any

import boto3

from fanout.contract import Row, WorkMessage
from fanout.jobs import JobStore
from infra.local.event_source import LocalContext, sqs_record
from infra.local.stack import LocalStack
from splitter.handler import build as build_splitter
from worker.handler import build as build_worker


def receive_all(session: boto3.Session, queue_url: str, visibility: int = 0) -> list[Any]:
    """Every visible message of a queue (left visible again at once unless asked otherwise)."""
    sqs = session.client("sqs")
    messages: list[Any] = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            AttributeNames=["All"],
            VisibilityTimeout=visibility or 30,
        ).get("Messages", [])
        if not batch:
            break
        messages.extend(batch)
    if not visibility:
        for m in messages:
            sqs.change_message_visibility(
                QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0
            )
    return messages


def event_for(stack: LocalStack, function: str, messages: list[Any]) -> dict[str, Any]:
    (trigger,) = stack.functions[function].triggers
    return {"Records": [sqs_record(m, trigger) for m in messages]}


def context_for(stack: LocalStack, function: str, timeout_s: float | None = None) -> LocalContext:
    spec = stack.functions[function]
    return LocalContext(spec.logical_id, spec.memory_mb, timeout_s or spec.timeout_s)


def work_messages(session: boto3.Session, stack: LocalStack) -> list[WorkMessage]:
    raw = receive_all(session, stack.outputs["WorkQueueUrl"])
    return sorted((WorkMessage.from_body(m["Body"]) for m in raw), key=lambda m: m.seq)


def dead_letters(session: boto3.Session, stack: LocalStack) -> list[dict[str, Any]]:
    return [json.loads(m["Body"]) for m in receive_all(session, stack.outputs["DeadLetterQueueUrl"])]


def full_messages(environment: dict[str, str]) -> dict[str, str]:
    """The splitter's environment with workers that take one message a round, so that every
    message holds RowsPerMessage rows (splitter/rounds.py): for tests that count messages."""
    return {**environment, "WORKER_CONCURRENCY": "1", "WORKER_BATCH_SIZE": "1"}


JOB = "job-1"


def setup_job(session: boto3.Session, stack: LocalStack, messages: list[WorkMessage]) -> list[Any]:
    jobs = JobStore(session.client("dynamodb"), stack.outputs["JobsTableName"])
    jobs.create(JOB, stack.outputs["DataBucketName"], "incoming/x.csv", "v1")
    jobs.finish_split(JOB, sum(len(m.rows) for m in messages), 0)
    sqs = session.client("sqs")
    for m in messages:
        sqs.send_message(QueueUrl=stack.outputs["WorkQueueUrl"], MessageBody=m.to_body())
    return receive_all(session, stack.outputs["WorkQueueUrl"], visibility=30)


def message(seq: int, first: int, count: int) -> WorkMessage:
    rows = tuple(Row(n, (str(n), f"value {n}, ü")) for n in range(first, first + count))
    return WorkMessage(JOB, seq, ("id", "text"), rows)


def invoke(session: boto3.Session, stack: LocalStack, received: list[Any]) -> dict[str, Any]:
    worker = build_worker(stack.functions["WorkerFunction"].environment, session=session)
    return worker.handle(event_for(stack, "WorkerFunction", received), context_for(stack, "WorkerFunction"))


def job(session: boto3.Session, stack: LocalStack) -> Any:
    return JobStore(session.client("dynamodb"), stack.outputs["JobsTableName"]).get(JOB)


def drop(session: boto3.Session, stack: LocalStack, key: str, data: bytes) -> dict:
    s3 = session.client("s3")
    s3.put_object(Bucket=stack.outputs["DataBucketName"], Key=key, Body=data)
    intake = receive_all(session, stack.outputs["IntakeQueueUrl"], visibility=30)
    return event_for(stack, "SplitterFunction", intake)


def split(session: boto3.Session, stack: LocalStack, event: dict) -> dict:
    intake = build_splitter(stack.functions["SplitterFunction"].environment, session=session)
    return intake.handle(event, context_for(stack, "SplitterFunction"))


def jobs(session: boto3.Session, stack: LocalStack) -> JobStore:
    return JobStore(session.client("dynamodb"), stack.outputs["JobsTableName"])
