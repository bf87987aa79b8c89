"""Cancelling a job, and resuming a cancelled or halted one, on any stack.

Where a stopped job's rows are, and how a resume finds each of them:
- rows of messages a worker received after the stop: in the held queue (HeldQueueUrl), each
  message narrowed to its cancelled rows, and marked cancelled in the ledger;
- rows the splitter never sent: nowhere but the file, counted as cancelled (rows_unsplit);
  the split's checkpoint says where they start;
- rows that failed before the stop: in the dead-letter queue, as any failed row.
A resume clears the stop first (so workers post what comes), then moves the job's held
messages and its dead letters back to the work queue, and starts the split again from its
checkpoint by sending the file's notification to the intake queue once more. The ledger skips
rows already posted, so a message moved twice posts nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from fanout.errors import InputError
from fanout.jobs import CANCELLED, SPLIT_STOPPED, Job, JobStore
from fanout.reports import JobReporter
from fanout.s3events import created_notification
from infra.ops.dead_letter_access import queue_arn, redrive_for
from infra.ops.dead_letters import DeadLetters
from infra.ops.redrive import Redrive, RedriveRequest
from infra.ops.stack_ref import StackConnection
from worker.ledger import Ledger


@dataclass(frozen=True)
class Resumed:
    held_rows: int  # rows moved back from the held queue
    failed_rows: int  # rows moved back from the dead-letter queue
    split_restarted: bool


def job_store(stack: StackConnection) -> JobStore:
    return JobStore(stack.session.client("dynamodb"), stack.outputs["JobsTableName"])


def find_job(stack: StackConnection, job_id: str) -> Job:
    job = job_store(stack).get(job_id)
    if job is None:
        raise InputError(f"no job {job_id} in {stack.where}")
    return job


def cancel(stack: StackConnection, job_id: str, reason: str) -> Job:
    """Stops the job's rows; the job as it stands once stopped."""
    job = find_job(stack, job_id)
    if job.is_finished:
        raise InputError(f"job {job_id} is {job.state} already: nothing left to cancel")
    jobs = job_store(stack)
    if jobs.stop(job_id, CANCELLED, reason):
        reporter = JobReporter(jobs, stack.session.client("s3"), stack.session.client("events"))
        reporter.announce_stop(job, CANCELLED, reason)
    return find_job(stack, job_id)


def resume(stack: StackConnection, job_id: str) -> Resumed:
    job = find_job(stack, job_id)
    if job.stopped:
        if not job_store(stack).clear_stop(job):
            raise InputError(f"job {job_id} changed while it was being resumed: try again")
    elif not job.rows_cancelled:
        raise InputError(f"job {job_id} is {job.state}, not cancelled or halted: nothing to resume")
    # (Not stopped but with rows cancelled: an earlier resume was interrupted. It goes on.)
    held = _held_redrive(stack).copy(RedriveRequest(job=job_id))
    failed = redrive_for(stack).run(RedriveRequest(job=job_id))
    if job.split_state == SPLIT_STOPPED:
        stack.session.client("sqs").send_message(
            QueueUrl=stack.outputs["IntakeQueueUrl"],
            MessageBody=created_notification(job.bucket, job.key, job.version),
        )
    return Resumed(held.rows, failed.rows, job.split_state == SPLIT_STOPPED)


def _held_redrive(stack: StackConnection) -> Redrive:
    """The held queue read like the DLQ (its messages carry no failures: none is annotated)."""
    outputs, sqs = stack.outputs, stack.session.client("sqs")
    ledger = Ledger(stack.session.client("dynamodb"), outputs["LedgerTableName"], outputs["JobsTableName"])
    held = DeadLetters(sqs, outputs["HeldQueueUrl"], ledger)
    return Redrive(
        sqs,
        held,
        queue_arn(stack, outputs["HeldQueueUrl"]),
        outputs["WorkQueueUrl"],
        queue_arn(stack, outputs["WorkQueueUrl"]),
    )
