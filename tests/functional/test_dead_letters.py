"""Reading the DLQ and redriving it, against the emulator."""

from __future__ import annotations

from typing import TYPE_CHECKING

import boto3

from fanout.contract import WorkMessage
from fanout.jobs import JobStore
from infra.local.stack import LocalStack
from infra.ops.dead_letters import POLICY_MOVED, DeadLetters
from infra.ops.redrive import Redrive, RedriveRequest
from tests.functional.helpers import message, receive_all, work_messages
from worker.ledger import Ledger, Outcome

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


def parts(
    session: boto3.Session, stack: LocalStack, sqs: SQSClient | None = None
) -> tuple[Ledger, DeadLetters, Redrive]:
    out = stack.outputs
    sqs = sqs or session.client("sqs")
    ledger = Ledger(session.client("dynamodb"), out["LedgerTableName"], out["JobsTableName"])
    dead = DeadLetters(sqs, out["DeadLetterQueueUrl"], ledger)

    def arn(url: str) -> str:
        return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    redrive = Redrive(
        sqs,
        dead,
        arn(out["DeadLetterQueueUrl"]),
        out["WorkQueueUrl"],
        arn(out["WorkQueueUrl"]),
        sleep=lambda s: None,
    )
    return ledger, dead, redrive


def put_dead(session: boto3.Session, stack: LocalStack, *messages: WorkMessage) -> None:
    for m in messages:
        session.client("sqs").send_message(
            QueueUrl=stack.outputs["DeadLetterQueueUrl"], MessageBody=m.to_body()
        )


def failed(m: WorkMessage, numbers: set[int]) -> WorkMessage:
    return m.with_rows(numbers, {n: {"status": 400, "error": "HTTP 400", "attempts": 1} for n in numbers})


def test_a_policy_moved_message_is_annotated_and_its_open_rows_counted_failed(
    session: boto3.Session, stack: LocalStack
) -> None:
    # GIVEN a job whose message 1 had rows 1-3 posted before its invocations kept dying
    jobs = JobStore(session.client("dynamodb"), stack.outputs["JobsTableName"])
    jobs.create("job-1", "b", "k", "v")
    jobs.finish_split("job-1", 10, 0)
    ledger, dead, _ = parts(session, stack)
    ledger.record([Outcome("job-1#1", "job-1", frozenset({1, 2, 3}))])
    put_dead(session, stack, message(1, 1, 10))
    # WHEN the DLQ is read
    (only,) = dead.scan()
    # THEN the message says why, holds only the open rows, and the job counts them as failed
    assert only.message is not None
    assert [r.number for r in only.message.rows] == list(range(4, 11))
    assert {row.reason for row in only.rows()} == {POLICY_MOVED}
    current = jobs.get("job-1")
    assert current is not None
    assert (current.rows_posted, current.rows_failed, current.state) == (3, 7, "done_with_failures")
    # AND reading it again changes nothing
    assert len(dead.scan()) == 1
    assert jobs.get("job-1").rows_failed == 7  # type: ignore[union-attr]


def test_redrive_moves_one_jobs_messages_and_leaves_the_rest(
    session: boto3.Session, stack: LocalStack
) -> None:
    _, _, redrive = parts(session, stack)
    other = WorkMessage("job-2", 1, ("id",), ())
    put_dead(
        session,
        stack,
        failed(message(1, 1, 5), {2}),
        failed(message(2, 6, 5), {7, 8}),
        failed(WorkMessage("job-2", 1, message(1, 1, 1).columns, message(1, 1, 1).rows), {1}),
    )
    assert other.job_id == "job-2"
    # A dry run counts and moves nothing
    dry = redrive.run(RedriveRequest(job="job-1", dry_run=True))
    assert (dry.messages, dry.rows, dry.left) == (2, 3, 1)
    assert work_messages(session, stack) == []
    # The real run moves job-1's two messages, failures and all, and leaves job-2's
    result = redrive.run(RedriveRequest(job="job-1"))
    assert (result.method, result.messages, result.rows, result.left) == ("copy", 2, 3, 1)
    moved = work_messages(session, stack)
    assert sorted((m.seq, [r.number for r in m.rows]) for m in moved) == [(1, [2]), (2, [7, 8])]
    assert all(m.failures for m in moved)
    remaining = receive_all(session, stack.outputs["DeadLetterQueueUrl"])
    assert [WorkMessage.from_body(m["Body"]).job_id for m in remaining] == ["job-2"]
    # --max limits the count; the emulator has no StartMessageMoveTask, so a whole-queue
    # redrive falls back to moving messages itself
    assert redrive.run(RedriveRequest(max_messages=5)).messages == 1
    assert redrive.run(RedriveRequest()).messages == 0


def test_redrive_reads_the_queue_once_and_leaves_nothing_behind(
    session: boto3.Session, stack: LocalStack
) -> None:
    # GIVEN a job's failed rows in the DLQ (each message with its reasons, as the worker sends them)
    out = stack.outputs
    sqs = session.client("sqs")
    long_polls: list[int] = []

    def count(params: dict[str, object], **_: object) -> None:
        if params.get("WaitTimeSeconds"):
            long_polls.append(1)

    sqs.meta.events.register("provide-client-params.sqs.ReceiveMessage", count)
    _, _, redrive = parts(session, stack, sqs)
    put_dead(session, stack, *(failed(message(n, 10 * n + 1, 10), {10 * n + 1}) for n in range(15)))
    # WHEN it is redriven
    result = redrive.run(RedriveRequest(job="job-1"))
    # THEN every message moved, the queue is empty, and one empty long poll proved it
    assert (result.messages, result.rows, result.left) == (15, 15, 0)
    assert len(work_messages(session, stack)) == 15
    assert receive_all(session, out["DeadLetterQueueUrl"]) == []
    assert len(long_polls) == 1
