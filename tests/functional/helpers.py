"""Driving the handlers' cores over real connections: SQS on the emulator, the API on loopback."""

from __future__ import annotations

import json
from typing import Any

import boto3

from fanout.contract import WorkMessage
from infra.local.event_source import LocalContext, sqs_record
from infra.local.stack import LocalStack


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
