"""The DLQ, the ledger and the work queue of a connected stack, for `fanout dlq` and `fanout redrive`."""

from __future__ import annotations

import boto3

from fanout.jobs import JobStore
from fanout.reports import JobReporter
from infra.ops.dead_letters import DeadLetters
from infra.ops.redrive import Redrive
from infra.ops.stack_ref import StackConnection
from worker.ledger import Ledger


def queue_arn(stack: StackConnection, url: str) -> str:
    attributes = stack.session.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return attributes["Attributes"]["QueueArn"]


def dead_letters(stack: StackConnection) -> DeadLetters:
    return dead_letters_for(stack.session, stack.outputs)


def dead_letters_for(session: boto3.Session, outputs: dict[str, str]) -> DeadLetters:
    """The DLQ, with what it needs to count moved rows as failed and report a job that ends so."""
    dynamodb = session.client("dynamodb")
    ledger = Ledger(dynamodb, outputs["LedgerTableName"], outputs["JobsTableName"])
    jobs = JobStore(dynamodb, outputs["JobsTableName"])
    reporter = JobReporter(jobs, session.client("s3"), session.client("events"))
    return DeadLetters(session.client("sqs"), outputs["DeadLetterQueueUrl"], ledger, reporter)


def redrive_for(stack: StackConnection) -> Redrive:
    outputs = stack.outputs
    return Redrive(
        stack.session.client("sqs"),
        dead_letters(stack),
        queue_arn(stack, outputs["DeadLetterQueueUrl"]),
        outputs["WorkQueueUrl"],
        queue_arn(stack, outputs["WorkQueueUrl"]),
    )
