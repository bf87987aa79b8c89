"""The DLQ, the ledger and the work queue of a connected stack, for `fanout dlq` and `fanout redrive`."""

from __future__ import annotations

import boto3

from fanout.jobs import JobStore
from fanout.reports import JobReporter
from fanout.results_handoff import results_handoff
from infra.ops.dead_letters import DeadLetters
from infra.ops.redrive import Redrive
from infra.ops.stack_ref import StackConnection
from worker.ledger import Ledger
from worker.results_log import ResultsLog


def queue_arn(stack: StackConnection, url: str) -> str:
    attributes = stack.session.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return attributes["Attributes"]["QueueArn"]


def dead_letters(stack: StackConnection) -> DeadLetters:
    return dead_letters_for(stack.session, stack.outputs)


def dead_letters_for(session: boto3.Session, outputs: dict[str, str]) -> DeadLetters:
    """The DLQ, with what it needs to count moved rows as failed and report a job that ends so."""
    dynamodb, s3 = session.client("dynamodb"), session.client("s3")
    # Rows counted failed here get their results records like the workers' (ResultsMode).
    mode = outputs["ResultsMode"]
    results = ResultsLog(s3, outputs["DataBucketName"], mode)
    ledger = Ledger(dynamodb, outputs["LedgerTableName"], outputs["JobsTableName"], results=results)
    jobs = JobStore(dynamodb, outputs["JobsTableName"])
    sqs = session.client("sqs")
    # The results file is combined by the stack's splitter, as when a worker finishes a job.
    handoff = results_handoff(sqs, outputs["IntakeQueueUrl"], mode)
    reporter = JobReporter(jobs, s3, session.client("events"), handoff=handoff)
    return DeadLetters(sqs, outputs["DeadLetterQueueUrl"], ledger, reporter)


def redrive_for(stack: StackConnection) -> Redrive:
    outputs = stack.outputs
    return Redrive(
        stack.session.client("sqs"),
        dead_letters(stack),
        queue_arn(stack, outputs["DeadLetterQueueUrl"]),
        outputs["WorkQueueUrl"],
        queue_arn(stack, outputs["WorkQueueUrl"]),
    )
