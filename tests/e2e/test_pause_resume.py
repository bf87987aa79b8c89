"""fanout pause, resume and throttle change a running local stack through the Lambda API."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.demo.api import DemoApi
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


def settle(api: DemoApi, quiet_s: float = 3.0, timeout_s: float = 60.0) -> int:
    """The API's count once it has not moved for `quiet_s`."""
    deadline = time.monotonic() + timeout_s
    last, since = len(api.successes), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = len(api.successes)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return now
    raise AssertionError("the API never went quiet")


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
    held = settle(api)
    assert 200 <= held < ROWS
    time.sleep(2)
    assert len(api.successes) == held
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
