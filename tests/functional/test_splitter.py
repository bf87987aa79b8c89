"""The splitter's core against S3, SQS and DynamoDB on the emulator, triggered by a real drop."""

from __future__ import annotations

import csv
import io
from typing import Any

import boto3

from fanout.jobs import Job, JobStore
from fanout.metrics import MetricsTarget
from fanout.s3events import ObjectRef
from fanout.settings import SplitterSettings
from infra.demo.api import DemoApi
from infra.local.stack import LocalStack, local_stack
from splitter.core import Splitter
from tests.functional.helpers import (
    drop,
    full_messages,
    jobs,
    split,
    work_messages,
)


def test_every_row_reaches_the_work_queue_once_in_order(session: boto3.Session, stack: LocalStack) -> None:
    # GIVEN a 250-row file with tricky values, dropped into incoming/
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["id", "text"])
    table = [[str(n), f'row {n}, "quoted"\nline two'] for n in range(1, 251)]
    writer.writerows(table)
    event = drop(session, stack, "incoming/tricky.csv", b"\xef\xbb\xbf" + out.getvalue().encode())
    # WHEN the splitter handles the S3 notification
    assert split(session, stack, event) == {"batchItemFailures": []}
    # THEN the rows arrive in messages of RowsPerMessage (100), numbered from 1, values intact
    messages = work_messages(session, stack)
    assert [len(m.rows) for m in messages] == [100, 100, 50]
    assert all(m.columns == ("id", "text") for m in messages)
    rows = [(r.number, list(r.values)) for m in messages for r in m.rows]
    assert rows == [(n, values) for n, values in enumerate(table, 1)]
    # AND the job records its total
    (job,) = jobs(session, stack).list()
    assert (job.rows_total, job.rows_rejected, job.state) == (250, 0, "running")


def test_a_jobs_messages_fill_whole_rounds_of_worker_invocations(
    session: boto3.Session, api: DemoApi
) -> None:
    # GIVEN workers that take 2 x 5 messages a round, and a 3,500-row file: 35 full messages of
    # 100 rows would leave the fourth round half empty
    parameters = {"ApiUrl": api.url, "WorkerReservedConcurrency": "2", "BatchSize": "5"}
    stack = local_stack(session, parameters, create=True)
    data = "id,text\n" + "".join(f"{n},row {n:05d}\n" for n in range(1, 3501))
    event = drop(session, stack, "incoming/rounds.csv", data.encode())
    # WHEN the splitter handles it
    split(session, stack, event)
    # THEN the rows come in four whole rounds of messages, none under half of RowsPerMessage
    messages = work_messages(session, stack)
    assert len(messages) == 4 * 10
    assert min(len(m.rows) for m in messages[:-1]) >= 50
    # AND every row is there once, in order
    assert [r.number for m in messages for r in m.rows] == list(range(1, 3501))


def test_bad_records_are_rejected_into_the_rejects_file(session: boto3.Session, stack: LocalStack) -> None:
    event = drop(session, stack, "incoming/bad.csv", b"a,b\n1,2\n3\n4,\xff\n5,6\n")
    split(session, stack, event)
    rows = [r.number for m in work_messages(session, stack) for r in m.rows]
    assert rows == [1, 4]  # record 4 is "5,6"
    (job,) = jobs(session, stack).list()
    assert (job.rows_total, job.rows_rejected) == (4, 2)
    body = session.client("s3").get_object(
        Bucket=stack.outputs["DataBucketName"], Key=f"rejects/{job.job_id}.csv"
    )
    rejects = list(csv.reader(io.StringIO(body["Body"].read().decode())))
    assert rejects[0] == ["row_number", "reason", "excerpt", "column"]
    assert [r[0] for r in rejects[1:]] == ["2", "3"]
    assert rejects[1][1] == "expected 2 fields, found 1"
    assert "not valid utf-8" in rejects[2][1]


def test_the_same_drop_delivered_twice_sends_its_rows_once(session: boto3.Session, stack: LocalStack) -> None:
    event = drop(session, stack, "incoming/twice.csv", b"a\n1\n2\n")
    split(session, stack, event)
    split(session, stack, event)
    assert [r.number for m in work_messages(session, stack) for r in m.rows] == [1, 2]
    assert len(jobs(session, stack).list()) == 1


def test_a_header_without_rows_fails_the_job_with_a_reason(session: boto3.Session, stack: LocalStack) -> None:
    event = drop(session, stack, "incoming/empty.csv", b"a,b\r\n")
    split(session, stack, event)
    (job,) = jobs(session, stack).list()
    assert job.state == "failed"
    assert job.error == "the file has a header but no data rows"
    assert work_messages(session, stack) == []


def test_a_binary_file_fails_the_job(session: boto3.Session, stack: LocalStack) -> None:
    event = drop(session, stack, "incoming/binary.csv", bytes(range(256)) * 4)
    split(session, stack, event)
    (job,) = jobs(session, stack).list()
    assert job.state == "failed"
    assert "does not look like a CSV file" in job.error


def test_the_job_record_is_written_once_per_five_sends_not_per_send(
    session: boto3.Session, stack: LocalStack
) -> None:
    class CountedJobs(JobStore):
        checkpoints = 0

        def save_checkpoint(self, *args: Any, **kwargs: Any) -> Job:
            CountedJobs.checkpoints += 1
            return super().save_checkpoint(*args, **kwargs)

    # GIVEN a file of 120 messages (100 rows each): 12 SendMessageBatch calls
    body = "id\n" + "".join(f"{n:05d}\n" for n in range(1, 12_001))
    s3 = session.client("s3")
    s3.put_object(Bucket=stack.outputs["DataBucketName"], Key="incoming/counted.csv", Body=body.encode())
    env = stack.functions["SplitterFunction"].environment
    settings = SplitterSettings.from_env(full_messages(env))
    splitter = Splitter(
        s3,
        session.client("sqs"),
        CountedJobs(session.client("dynamodb"), settings.jobs_table),
        settings,
        MetricsTarget.from_env(env, None),
    )
    # WHEN it is split
    result = splitter.split(ObjectRef(stack.outputs["DataBucketName"], "incoming/counted.csv", None, ""))
    # THEN every message went out, with a checkpoint after 50, after 100, and at the end
    assert (result.rows_total, result.messages) == (12_000, 120)
    assert CountedJobs.checkpoints == 3
    assert len(work_messages(session, stack)) == 120
