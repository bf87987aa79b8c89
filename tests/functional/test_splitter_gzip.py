"""gzip-compressed CSV through the splitter: dropped as .csv.gz or with Content-Encoding: gzip."""

from __future__ import annotations

import gzip

import boto3

from fanout.jobs import JobStore
from infra.cli.status import COLUMNS, row_for
from infra.local.stack import LocalStack
from splitter.core import HANDOFF_RESERVE_S, MESSAGES_PER_CHECKPOINT
from splitter.handler import build
from tests.functional.helpers import context_for, event_for, full_messages, receive_all, work_messages

ROWS = MESSAGES_PER_CHECKPOINT * 100 * 5 // 2  # two and a half checkpoints at RowsPerMessage 100


class OneCheckpoint:
    """An invocation's time, running out after the split's first look at it (taking its lease)."""

    def __init__(self) -> None:
        self.looks = 0

    def get_remaining_time_in_millis(self) -> int:
        self.looks += 1
        return int((10_000.0 if self.looks <= 1 else HANDOFF_RESERVE_S - 1) * 1000)


def rows(count: int) -> bytes:
    return ("id,text\r\n" + "".join(f'{n},"row {n}, ü\nline two"\r\n' for n in range(1, count + 1))).encode()


def test_a_csv_gz_drop_starts_a_job_and_a_resumed_split_goes_on_after_its_checkpoint(
    session: boto3.Session, stack: LocalStack
) -> None:
    # GIVEN a .csv.gz dropped into incoming/ (the template's second notification filter)
    session.client("s3").put_object(
        Bucket=stack.outputs["DataBucketName"], Key="incoming/big.csv.gz", Body=gzip.compress(rows(ROWS))
    )
    event = event_for(stack, "SplitterFunction", receive_all(session, stack.outputs["IntakeQueueUrl"], 30))
    assert sum("ObjectCreated" in r["body"] for r in event["Records"]) == 1  # one notification, not two
    intake = build(full_messages(stack.functions["SplitterFunction"].environment), session=session)
    # WHEN a first invocation runs out of time after a checkpoint and hands over to a second
    intake.handle(event, OneCheckpoint())
    handed = event_for(stack, "SplitterFunction", receive_all(session, stack.outputs["IntakeQueueUrl"], 30))
    assert len(handed["Records"]) == 1
    (job,) = JobStore(session.client("dynamodb"), stack.outputs["JobsTableName"]).list()
    assert job.rows_total is None and job.rows_estimate is not None
    assert abs(job.rows_estimate - ROWS) < ROWS * 0.05
    # ... which `fanout status` shows as an estimate while the split reads on
    assert dict(zip(COLUMNS, row_for(job), strict=True))["TOTAL"] == f"~{job.rows_estimate:,}"
    intake.handle(handed, context_for(stack, "SplitterFunction"))
    # THEN every row is in exactly one message, in order, values whole
    messages = work_messages(session, stack)
    assert [r.number for m in messages for r in m.rows] == list(range(1, ROWS + 1))
    assert messages[-1].rows[-1].values == (str(ROWS), f"row {ROWS}, ü\nline two")
    (job,) = JobStore(session.client("dynamodb"), stack.outputs["JobsTableName"]).list()
    assert job.rows_total == ROWS


def test_an_object_with_content_encoding_gzip_is_decompressed(
    session: boto3.Session, stack: LocalStack
) -> None:
    session.client("s3").put_object(
        Bucket=stack.outputs["DataBucketName"],
        Key="incoming/encoded.csv",
        Body=gzip.compress(rows(250)),
        ContentEncoding="gzip",
    )
    event = event_for(stack, "SplitterFunction", receive_all(session, stack.outputs["IntakeQueueUrl"], 30))
    assert build(stack.functions["SplitterFunction"].environment, session=session).handle(event, None) == {
        "batchItemFailures": []
    }
    assert [r.number for m in work_messages(session, stack) for r in m.rows] == list(range(1, 251))


def test_a_corrupt_gzip_file_fails_its_job_with_the_reason(session: boto3.Session, stack: LocalStack) -> None:
    session.client("s3").put_object(
        Bucket=stack.outputs["DataBucketName"],
        Key="incoming/cut.csv.gz",
        Body=gzip.compress(rows(2000))[:-3000],
    )
    event = event_for(stack, "SplitterFunction", receive_all(session, stack.outputs["IntakeQueueUrl"], 30))
    build(stack.functions["SplitterFunction"].environment, session=session).handle(event, None)
    (job,) = JobStore(session.client("dynamodb"), stack.outputs["JobsTableName"]).list()
    assert job.state == "failed" and "cut short" in job.error
