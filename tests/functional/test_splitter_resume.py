"""A split that runs out of time hands over to a fresh invocation, which goes on from the checkpoint."""

from __future__ import annotations

import csv
import io

import boto3

from fanout.jobs import JobStore
from infra.local.stack import LocalStack
from splitter.core import HANDOFF_RESERVE_S, MESSAGES_PER_CHECKPOINT
from splitter.handler import build
from tests.functional.helpers import (
    context_for,
    drop,
    event_for,
    full_messages,
    jobs,
    receive_all,
    work_messages,
)

# The stack's RowsPerMessage is the template's default, 100, and every message is full.
ROWS_PER_CHECKPOINT = MESSAGES_PER_CHECKPOINT * 100


class Clock:
    """Time left that runs out after `checks` looks at it, as a long split's would."""

    def __init__(self, checks: int) -> None:
        self.checks = checks

    def __call__(self) -> float:
        self.checks -= 1
        return 10_000.0 if self.checks >= 0 else HANDOFF_RESERVE_S - 1


class ShortContext:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def get_remaining_time_in_millis(self) -> int:
        return int(self.clock() * 1000)


def test_a_split_handed_over_twice_sends_every_row_once(session: boto3.Session, stack: LocalStack) -> None:
    # GIVEN a file of three and a half checkpoints' rows with a bad record, and splitter
    # invocations that run out of time after two checkpoints
    total = ROWS_PER_CHECKPOINT * 7 // 2
    lines = ["id,text"] + [f'{n},"row {n}; two\nlines"' for n in range(1, total + 1)]
    lines[1200] = "1200"  # one field too few
    event = drop(session, stack, "incoming/long.csv", ("\r\n".join(lines) + "\r\n").encode())
    intake = build(full_messages(stack.functions["SplitterFunction"].environment), session=session)
    handed_over = 0
    # WHEN the intake queue's messages are handled until none are left
    while event["Records"]:
        assert intake.handle(event, ShortContext(Clock(checks=2))) == {"batchItemFailures": []}
        event = event_for(
            stack, "SplitterFunction", receive_all(session, stack.outputs["IntakeQueueUrl"], 30)
        )
        handed_over += bool(event["Records"])
    # THEN it took several invocations, and every good row is in exactly one message, in order
    assert handed_over == 1
    messages = work_messages(session, stack)
    assert [m.seq for m in messages] == list(range(1, len(messages) + 1))
    numbers = [r.number for m in messages for r in m.rows]
    assert numbers == [n for n in range(1, total + 1) if n != 1200]
    assert messages[0].rows[0].values == ("1", "row 1; two\nlines")
    # AND the job has its total, its rejected record, and one rejects file
    (job,) = jobs(session, stack).list()
    assert (job.rows_total, job.rows_rejected, job.state) == (total, 1, "running")
    assert job.format.startswith("delimiter=comma (sniffed)")
    s3 = session.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=job.bucket, Prefix="rejects/").get("Contents", [])]
    assert keys == [f"rejects/{job.job_id}.csv"]
    rejects = list(
        csv.reader(io.StringIO(s3.get_object(Bucket=job.bucket, Key=keys[0])["Body"].read().decode()))
    )
    assert rejects[1][:2] == ["1200", "expected 2 fields, found 1"]


def test_a_trigger_for_a_split_that_died_goes_on_from_its_checkpoint(
    session: boto3.Session, stack: LocalStack
) -> None:
    # GIVEN a split of two and a half checkpoints' rows that checkpointed once and then died
    # (its lease has run out)
    total = ROWS_PER_CHECKPOINT * 5 // 2
    lines = ["id"] + [str(n) for n in range(1, total + 1)]
    event = drop(session, stack, "incoming/died.csv", ("\n".join(lines) + "\n").encode())
    intake = build(full_messages(stack.functions["SplitterFunction"].environment), session=session)
    intake.handle(event, ShortContext(Clock(checks=1)))  # hands over after one checkpoint
    receive_all(session, stack.outputs["IntakeQueueUrl"], 30)  # ... and the hand-over is lost
    # WHEN the original notification is delivered again
    intake.handle(event, context_for(stack, "SplitterFunction"))
    # THEN the rest of the file is sent once, after what was sent before
    numbers = [r.number for m in work_messages(session, stack) for r in m.rows]
    assert numbers == list(range(1, total + 1))
    (job,) = JobStore(session.client("dynamodb"), stack.outputs["JobsTableName"]).list()
    assert (job.rows_total, job.state) == (total, "running")


def test_per_file_format_from_object_metadata(session: boto3.Session, stack: LocalStack) -> None:
    s3 = session.client("s3")
    data = '番号\t名前\r\n1\t"山田\r\n太郎"\r\n'.encode("cp932")
    s3.put_object(
        Bucket=stack.outputs["DataBucketName"],
        Key="incoming/sjis.csv",
        Body=data,
        Metadata={"fanout-encoding": "cp932", "fanout-delimiter": "tab"},
    )
    event = event_for(stack, "SplitterFunction", receive_all(session, stack.outputs["IntakeQueueUrl"], 30))
    build(stack.functions["SplitterFunction"].environment, session=session).handle(event, None)
    (message,) = work_messages(session, stack)
    assert message.columns == ("番号", "名前")
    assert message.rows[0].values == ("1", "山田\r\n太郎")


def test_a_file_of_bad_records_is_rejected_in_parts_and_combined(
    session: boto3.Session, stack: LocalStack
) -> None:
    # GIVEN 24,000 records with a field too few, long enough that the rejects file passes 5 MiB
    bad = "x" * 230
    event = drop(session, stack, "incoming/bad.csv", ("a,b\n" + f"{bad}\n" * 24_000).encode())
    build(stack.functions["SplitterFunction"].environment, session=session).handle(event, None)
    # THEN every record is rejected, in one rejects file written in multipart parts
    (job,) = jobs(session, stack).list()
    assert (job.rows_total, job.rows_rejected) == (24_000, 24_000)
    s3 = session.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=job.bucket, Prefix="rejects/").get("Contents", [])]
    assert keys == [f"rejects/{job.job_id}.csv"]
    body = s3.get_object(Bucket=job.bucket, Key=keys[0])["Body"].read().decode()
    rows = list(csv.reader(io.StringIO(body)))
    assert len(body) > 5 * 1024 * 1024
    assert [int(r[0]) for r in rows[1:]] == list(range(1, 24_001))


def test_a_job_started_with_the_default_request_keeps_it_when_handed_over(
    session: boto3.Session, stack: LocalStack
) -> None:
    # GIVEN a split of a file that names no spec, run out of time after its first checkpoint
    lines = ["id"] + [str(n) for n in range(1, ROWS_PER_CHECKPOINT * 3 // 2 + 1)]
    event = drop(session, stack, "incoming/plain.csv", ("\n".join(lines) + "\n").encode())
    environment = full_messages(stack.functions["SplitterFunction"].environment)
    assert build(environment, session=session).handle(event, ShortContext(Clock(checks=1))) == {
        "batchItemFailures": []
    }
    handover = event_for(stack, "SplitterFunction", receive_all(session, stack.outputs["IntakeQueueUrl"], 30))
    assert handover["Records"]
    # WHEN the stack gets a DefaultRequest before the next invocation goes on with the split
    bucket = stack.outputs["DataBucketName"]
    session.client("s3").put_object(Bucket=bucket, Key="requests/later.json", Body=b'{"method": "PUT"}')
    later = build({**environment, "DEFAULT_REQUEST": "later.json"}, session=session)
    assert later.handle(handover, ShortContext(Clock(checks=100))) == {"batchItemFailures": []}
    # THEN every row of the job is sent with the request it started with: the default request
    messages = work_messages(session, stack)
    assert sum(len(m.rows) for m in messages) == len(lines) - 1
    assert {m.request for m in messages} == {None}
    (job,) = jobs(session, stack).list()
    assert (job.request, job.request_pinned, job.rows_total) == (None, True, len(lines) - 1)
