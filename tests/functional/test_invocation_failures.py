"""A split never stalls silently: a broken object stream resumes, and a failed invocation of
either function is logged at ERROR, counted, noted on its job and retried within seconds.

The faults are real ones on real connections: the functions reach S3 or DynamoDB through a
proxy on loopback (tests/functional/faulty_proxy.py) that cuts or refuses chosen responses.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from fanout.errors import ConfigError
from fanout.jobs import SPLITTING, JobStore
from fanout.metrics import metric_names
from infra.demo.api import DemoApi
from infra.local.emulator import Emulator
from infra.local.endpoint import use_endpoint
from infra.local.event_source import LocalEventSource, handler_factory
from infra.local.stack import LocalStack
from splitter.handler import build as build_splitter
from tests.functional.faulty_proxy import FaultyProxy, Rule, Seen, faulty_proxy
from tests.functional.helpers import context_for, event_for, full_messages, receive_all, work_messages
from worker import handler as worker_handler
from worker.handler import build as build_worker

# Far below the queues' visibility timeouts (intake 5,400 s, work 720 s; a test's receive 30 s):
# a message back within this long was made visible again by the function.
RETRIED_WITHIN_S = 20.0
ACCESS_DENIED = b"<Error><Code>AccessDenied</Code><Message>injected by the test</Message></Error>"
VALIDATION = b'{"__type":"com.amazon.coral.validate#ValidationException","message":"injected by the test"}'


class Documents:
    """A metrics sink that keeps what the functions publish."""

    def __init__(self) -> None:
        self.documents: list[dict[str, Any]] = []

    def publish(self, documents: list[dict[str, Any]]) -> None:
        self.documents.extend(documents)

    def total(self, name: str) -> float:
        values = [d[name] for d in self.documents if name in metric_names(d)]
        return sum(sum(v) if isinstance(v, list) else float(v) for v in values)


@pytest.fixture
def proxy(emulator: Emulator) -> Iterator[FaultyProxy]:
    with faulty_proxy(emulator.endpoint_url) as running:
        yield running


def through_proxy(
    monkeypatch: pytest.MonkeyPatch, emulator: Emulator, service: str, proxy: FaultyProxy
) -> boto3.Session:
    """A session whose `service` clients go through the proxy (botocore's per-service endpoint variable)."""
    monkeypatch.setenv(f"AWS_ENDPOINT_URL_{service.upper()}", proxy.url)
    return use_endpoint(emulator.endpoint_url)


def object_gets(seen: Seen) -> bool:
    return seen.method == "GET" and "/incoming/" in seen.path


def csv_rows(count: int) -> bytes:
    return ("id,text\n" + "".join(f'{n},"row {n}, quoted"\n' for n in range(1, count + 1))).encode()


def jobs(session: boto3.Session, stack: LocalStack) -> JobStore:
    return JobStore(session.client("dynamodb"), stack.outputs["JobsTableName"])


def test_a_stream_that_breaks_mid_object_resumes_with_a_ranged_get(
    session: boto3.Session,
    stack: LocalStack,
    emulator: Emulator,
    proxy: FaultyProxy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a 20,000-row file whose first GET is cut off in the middle of a record
    data = csv_rows(20_000)
    cut = len(data) // 2 + 3
    assert data[cut - 1 : cut + 1] != b"\n" and b"\n" not in data[cut - 2 : cut + 2]
    proxy.rules.append(Rule(object_gets, times=1, cut_after=cut))
    session.client("s3").put_object(
        Bucket=stack.outputs["DataBucketName"], Key="incoming/broken.csv", Body=data
    )
    event = event_for(stack, "SplitterFunction", receive_all(session, stack.outputs["IntakeQueueUrl"], 30))
    # WHEN the splitter, reaching S3 through the proxy, handles the notification
    environment = full_messages(stack.functions["SplitterFunction"].environment)
    splitter = build_splitter(environment, session=through_proxy(monkeypatch, emulator, "s3", proxy))
    response = splitter.handle(event, context_for(stack, "SplitterFunction"))
    # THEN it went on with a ranged GET of the same version from the first byte it had not read
    assert response == {"batchItemFailures": []}
    gets = [s for s in proxy.seen if object_gets(s)]
    assert [g.headers.get("range") for g in gets] == [None, f"bytes={cut}-"]
    assert len({g.path for g in gets}) == 1 and "versionId=" in gets[0].path
    # AND every row is in exactly one message, in order, its values whole
    messages = work_messages(session, stack)
    assert [r.number for m in messages for r in m.rows] == list(range(1, 20_001))
    assert [r.values for m in messages for r in m.rows][9_999] == ("10000", "row 10000, quoted")
    (job,) = jobs(session, stack).list()
    assert (job.rows_total, job.invocation_failures) == (20_000, 0)


def test_a_failed_split_is_logged_counted_and_retried_within_seconds(
    session: boto3.Session,
    stack: LocalStack,
    emulator: Emulator,
    proxy: FaultyProxy,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # GIVEN a splitter on the local event source mapping whose first GET of the file is refused
    proxy.rules.append(Rule(object_gets, times=1, status=403, body=ACCESS_DENIED))
    function = stack.functions["SplitterFunction"]
    (trigger,) = function.triggers
    sink = Documents()
    faulty = through_proxy(monkeypatch, emulator, "s3", proxy)
    source = LocalEventSource(
        faulty, function, trigger, handler_factory(function, session=faulty, metrics_sink=sink), 1
    )
    source.start()
    source.wait_ready()
    caplog.set_level(logging.INFO, logger="fanout")
    try:
        # WHEN a file is dropped
        session.client("s3").put_object(
            Bucket=stack.outputs["DataBucketName"], Key="incoming/retried.csv", Body=csv_rows(500)
        )
        # THEN the job is split within seconds, not after the intake queue's 90-minute timeout
        deadline = time.monotonic() + RETRIED_WITHIN_S
        while not (listed := jobs(session, stack).list()) or listed[0].split_state == SPLITTING:
            assert time.monotonic() < deadline, "the failed split was not retried within seconds"
            time.sleep(0.2)
    finally:
        source.stop()
    # AND the failure was logged at ERROR with its cause, counted, and noted on the job
    errors = [r for r in caplog.records if r.levelno == logging.ERROR and r.name == "fanout.splitter"]
    assert len(errors) == 1 and "AccessDenied" in errors[0].getMessage() and errors[0].exc_info
    assert sink.total("SplitterFailures") == 1
    (job,) = jobs(session, stack).list()
    assert (job.invocation_failures, job.rows_total) == (1, 500)
    assert job.last_invocation_failure.startswith("AccessDenied: An error occurred (AccessDenied)")
    assert [r.number for m in work_messages(session, stack) for r in m.rows] == list(range(1, 501))


def test_a_failed_worker_invocation_is_logged_counted_and_retried_within_seconds(
    session: boto3.Session,
    stack: LocalStack,
    api: DemoApi,
    emulator: Emulator,
    proxy: FaultyProxy,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # GIVEN a split job, and a worker whose first ledger read is refused by DynamoDB
    session.client("s3").put_object(
        Bucket=stack.outputs["DataBucketName"], Key="incoming/work.csv", Body=csv_rows(150)
    )
    intake = event_for(stack, "SplitterFunction", receive_all(session, stack.outputs["IntakeQueueUrl"], 30))
    build_splitter(stack.functions["SplitterFunction"].environment, session=session).handle(intake, None)
    proxy.rules.append(
        Rule(
            lambda s: "BatchGetItem" in s.headers.get("x-amz-target", ""),
            times=1,
            status=400,
            body=VALIDATION,
        )
    )
    sink = Documents()
    worker = build_worker(
        stack.functions["WorkerFunction"].environment,
        session=through_proxy(monkeypatch, emulator, "dynamodb", proxy),
        metrics_sink=sink,
    )
    queue_url = stack.outputs["WorkQueueUrl"]
    received = receive_all(session, queue_url, visibility=30)
    caplog.set_level(logging.INFO, logger="fanout")
    # WHEN an invocation fails as a whole
    with pytest.raises(Exception, match="injected by the test"):
        worker.handle(event_for(stack, "WorkerFunction", received), context_for(stack, "WorkerFunction"))
    # THEN it was logged at ERROR with its cause, counted, and noted on the job
    errors = [r for r in caplog.records if r.levelno == logging.ERROR and r.name == "fanout.worker"]
    assert len(errors) == 1 and "ValidationException" in errors[0].getMessage() and errors[0].exc_info
    assert sink.total("WorkerFailures") == len(received)
    (job,) = jobs(session, stack).list()
    assert job.invocation_failures == 1 and "injected by the test" in job.last_invocation_failure
    # AND its messages come back within seconds, not after the visibility timeout, and post once
    again: list[Any] = []
    deadline = time.monotonic() + RETRIED_WITHIN_S
    while len(again) < len(received):
        assert time.monotonic() < deadline, "the failed invocation's messages did not come back"
        again += receive_all(session, queue_url, visibility=30)
        time.sleep(0.2)
    assert {m["MessageId"] for m in again} == {m["MessageId"] for m in received}
    response = worker.handle(event_for(stack, "WorkerFunction", again), context_for(stack, "WorkerFunction"))
    assert response == {"batchItemFailures": []}
    assert sorted(api.successes.values()) == [1] * 150


@pytest.fixture
def lambda_logging() -> Iterator[None]:
    """The Lambda entry point sets up Powertools' JSON logging on the project's logger; undone after."""
    logger = logging.getLogger("fanout")
    saved = (list(logger.handlers), logger.propagate, logger.level)
    yield
    logger.handlers[:], logger.propagate, logger.level = saved[0], saved[1], saved[2]


def test_a_worker_that_cannot_start_logs_why_and_retries_its_messages_within_seconds(
    session: boto3.Session,
    stack: LocalStack,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    lambda_logging: None,
) -> None:
    # GIVEN a work message, and a worker environment with a setting out of range
    queue_url = stack.outputs["WorkQueueUrl"]
    session.client("sqs").send_message(QueueUrl=queue_url, MessageBody="{}")
    received = receive_all(session, queue_url, visibility=30)
    for name, value in {**stack.functions["WorkerFunction"].environment, "THREADS": "0"}.items():
        monkeypatch.setenv(name, value)
    # WHEN Lambda invokes the handler, whose core cannot be built
    with pytest.raises(ConfigError):
        worker_handler.lambda_handler(event_for(stack, "WorkerFunction", received), None)
    # THEN the cause is in the function's log at ERROR, as Lambda's log stream would have it
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    errors = [line for line in lines if line.get("level") == "ERROR"]
    assert (
        len(errors) == 1
        and "THREADS=0" in errors[0]["message"]
        and errors[0]["exception_name"] == "ConfigError"
    )
    # AND it is counted, and the message comes back within seconds
    documents = [line for line in lines if "_aws" in line]
    assert [d["WorkerFailures"] for d in documents if "WorkerFailures" in metric_names(d)] == [[1.0]]
    deadline = time.monotonic() + RETRIED_WITHIN_S
    while not receive_all(session, queue_url):
        assert time.monotonic() < deadline, "the message of a worker that could not start did not come back"
        time.sleep(0.2)
