"""The DLQ, the ledger and the work queue of a connected stack, for `fanout dlq` and `fanout redrive`."""

from __future__ import annotations

from infra.dlq import DeadLetters
from infra.redrive import Redrive
from infra.stack_ref import StackConnection
from worker.ledger import Ledger


def queue_arn(stack: StackConnection, url: str) -> str:
    attributes = stack.session.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return attributes["Attributes"]["QueueArn"]


def dead_letters(stack: StackConnection) -> DeadLetters:
    outputs = stack.outputs
    ledger = Ledger(stack.session.client("dynamodb"), outputs["LedgerTableName"], outputs["JobsTableName"])
    return DeadLetters(stack.session.client("sqs"), outputs["DeadLetterQueueUrl"], ledger)


def redrive_for(stack: StackConnection) -> Redrive:
    outputs = stack.outputs
    return Redrive(
        stack.session.client("sqs"),
        dead_letters(stack),
        queue_arn(stack, outputs["DeadLetterQueueUrl"]),
        outputs["WorkQueueUrl"],
        queue_arn(stack, outputs["WorkQueueUrl"]),
    )
