"""fanout pause, resume and throttle change a running local stack through the Lambda API."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.demo.api import DemoApi
from infra.local.endpoint import use_endpoint
from infra.local.stack import local_stack
from tests.e2e.cli import fanout as run_fanout
from tests.e2e.cli import local_up

pytestmark = pytest.mark.e2e

ROWS = 1_200


def fanout(endpoint: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run_fanout(*args, env={"AWS_ENDPOINT_URL": endpoint}, timeout=60)


@pytest.fixture
def api() -> Iterator[DemoApi]:
    with DemoApi(latency_s=(0.03, 0.03)) as running:
        yield running


@pytest.fixture
def endpoint(api: DemoApi) -> Iterator[str]:
    # small batches: a paused mapping still lets running invocations finish theirs
    flags = ("--concurrency", "2", "--threads", "2", "--param", "RowsPerMessage=10")
    with local_up(api.url, *flags) as url:
        yield url


def work_queue_counts(endpoint: str) -> tuple[int, int]:
    """(messages waiting, messages held by invocations) on the stack's work queue."""
    session = use_endpoint(endpoint)
    url = local_stack(session, {}, create=False).outputs["WorkQueueUrl"]
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = session.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return int(attributes[names[0]]), int(attributes[names[1]])


def drained_while_paused(endpoint: str, timeout_s: float = 60.0) -> None:
    """Until the invocations under way have finished theirs and messages still wait: a poller
    still receiving would hold some of them."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        waiting, held = work_queue_counts(endpoint)
        if held == 0 and waiting > 0:
            return
        time.sleep(0.25)
    raise AssertionError(f"the work queue never drained with work left: {work_queue_counts(endpoint)}")


def test_pause_stops_new_work_and_resume_finishes_it(tmp_path: Path, api: DemoApi, endpoint: str) -> None:
    source = tmp_path / "slow.csv"
    source.write_text("id\n" + "".join(f"{n}\n" for n in range(1, ROWS + 1)))
    assert fanout(endpoint, "drop", str(source)).returncode == 0
    deadline = time.monotonic() + 60
    while len(api.successes) < 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    # WHEN the mapping is paused, running invocations finish and nothing new starts
    paused = fanout(endpoint, "pause")
    assert paused.returncode == 0, paused.stderr
    drained_while_paused(endpoint)
    held = len(api.successes)
    assert 200 <= held < ROWS
    # AND throttling is accepted within the mapping's range, refused outside it
    assert fanout(endpoint, "throttle", "--max-concurrency", "2").returncode == 0
    assert fanout(endpoint, "throttle", "--max-concurrency", "1").returncode == 2
    # WHEN it is resumed, the job completes with every row once
    assert fanout(endpoint, "resume").returncode == 0
    deadline = time.monotonic() + 120
    while len(api.successes) < ROWS and time.monotonic() < deadline:
        time.sleep(0.25)
    assert len(api.successes) == ROWS
    assert set(api.successes.values()) == {1}
