"""Driving the handlers' cores over real connections: SQS on the emulator, the API on loopback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

import boto3

from fanout.contract import Row, WorkMessage
from fanout.jobs import JobStore
from fanout.results_handoff import combine_request
from infra.demo.api import Call, DemoApi, Reply
from infra.local.event_source import LocalContext, sqs_record
from infra.local.stack import LocalStack
from infra.ops.dead_letter_access import dead_letters_for
from infra.ops.redrive import Redrive
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


def invoke(session: boto3.Session, stack: LocalStack, received: list[Any], **env: str) -> dict[str, Any]:
    """A worker invocation on the messages (`env`: settings changed), then the results combines
    it handed to the splitter."""
    worker = build_worker({**stack.functions["WorkerFunction"].environment, **env}, session=session)
    event = event_for(stack, "WorkerFunction", received)
    response = worker.handle(event, context_for(stack, "WorkerFunction"))
    combine_handed_off(session, stack)
    return response


def combine_handed_off(session: boto3.Session, stack: LocalStack) -> int:
    """The splitter run on each results combine waiting in its queue, as its event source would
    (a message handled is deleted); the queue's other messages are left visible. How many ran."""
    sqs, url = session.client("sqs"), stack.outputs["IntakeQueueUrl"]
    handled = 0
    for received in receive_all(session, url, visibility=30):
        handle = received["ReceiptHandle"]
        if combine_request(received["Body"]) is None:
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0)
            continue
        response = split(session, stack, event_for(stack, "SplitterFunction", [received]))
        assert response == {"batchItemFailures": []}, response
        sqs.delete_message(QueueUrl=url, ReceiptHandle=handle)
        handled += 1
    return handled


def job(session: boto3.Session, stack: LocalStack) -> Any:
    return JobStore(session.client("dynamodb"), stack.outputs["JobsTableName"]).get(JOB)


def drop(
    session: boto3.Session, stack: LocalStack, key: str, data: bytes, metadata: dict[str, str] | None = None
) -> dict:
    s3 = session.client("s3")
    s3.put_object(Bucket=stack.outputs["DataBucketName"], Key=key, Body=data, Metadata=metadata or {})
    intake = receive_all(session, stack.outputs["IntakeQueueUrl"], visibility=30)
    return event_for(stack, "SplitterFunction", intake)


def split(session: boto3.Session, stack: LocalStack, event: dict) -> dict:
    intake = build_splitter(stack.functions["SplitterFunction"].environment, session=session)
    return intake.handle(event, context_for(stack, "SplitterFunction"))


def jobs(session: boto3.Session, stack: LocalStack) -> JobStore:
    return JobStore(session.client("dynamodb"), stack.outputs["JobsTableName"])


def refuse_multiples_of_seven(call: Call) -> Reply:
    if int(call.payload["id"]) % 7 == 0:
        return Reply(400, body=b'{"error":"id must not be a multiple of seven"}')
    return Reply()


def kill_part_way(session: boto3.Session, stack: LocalStack, api: DemoApi, tmp_path: Any) -> list[Any]:
    """A message of 200 rows posted 2 at a time at 20 ms a call, by an invocation in a process of
    its own, killed (SIGKILL) once 80 rows went through; the message, as received."""
    api.decide = lambda call: Reply(delay_s=0.02)
    received = setup_job(session, stack, [message(1, 1, 200)])
    env = {**stack.functions["WorkerFunction"].environment, "THREADS": "2"}
    event_file = tmp_path / "event.json"
    event_file.write_text(json.dumps(event_for(stack, "WorkerFunction", received)))
    script = (
        "import json, sys\n"
        "from worker.handler import build\n"
        "from infra.local.event_source import LocalContext\n"
        "worker = build(json.loads(sys.argv[1]))\n"
        "worker.handle(json.load(open(sys.argv[2])), LocalContext('WorkerFunction', 1024, 120))\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script, json.dumps(env), str(event_file)], env=os.environ
    )
    deadline = time.monotonic() + 30
    while len(api.successes) < 80 and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    return received


def redrive_for_test(session: boto3.Session, stack: LocalStack) -> Redrive:
    """`fanout redrive` of the stack's DLQ, as the CLI builds it (without progress output)."""
    sqs = session.client("sqs")

    def arn(url: str) -> str:
        return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    out = stack.outputs
    return Redrive(
        sqs,
        dead_letters_for(session, out),
        arn(out["DeadLetterQueueUrl"]),
        out["WorkQueueUrl"],
        arn(out["WorkQueueUrl"]),
        lambda s: None,
    )
