"""`fanout local up` in one process; drop and status from others, found by AWS_ENDPOINT_URL."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.demo_api import DemoApi

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fanout(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "infra.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def api() -> Iterator[DemoApi]:
    with DemoApi(latency_s=(0.0, 0.0)) as running:
        yield running


@pytest.fixture
def local_up(api: DemoApi) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "infra.cli", "local", "up", "--api-url", api.url, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    assert first.startswith("local stack up at"), first
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_drop_then_status_follows_the_job_to_done(tmp_path: Path, api: DemoApi, local_up: str) -> None:
    env = {"AWS_ENDPOINT_URL": local_up}
    source = tmp_path / "people.csv"
    source.write_text("id,name\n" + "".join(f"{n},person {n}\n" for n in range(1, 301)))
    # WHEN a file is dropped from another process
    dropped = fanout("drop", str(source), env=env)
    assert dropped.returncode == 0, dropped.stderr
    job_id = dropped.stdout.split()[0]
    # THEN status finds the job and, soon, shows it done with every row posted
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = fanout("status", job_id, env=env)
        assert status.returncode == 0, status.stderr
        if " done " in status.stdout:
            break
        time.sleep(0.5)
    header, row = status.stdout.splitlines()[:2]
    assert header.split() == [
        "JOB",
        "STATE",
        "TOTAL",
        "POSTED",
        "FAILED",
        "REJECTED",
        "ROWS/S",
        "ETA",
        "THROTTLED",
        "STARTED",
    ]
    assert row.split()[:6] == [job_id, "done", "300", "300", "0", "0"]
    assert len(api.successes) == 300
    listing = fanout("status", "--endpoint-url", local_up)
    assert job_id in listing.stdout


def test_commands_without_a_stack_say_how_to_name_one(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    result = subprocess.run(
        [sys.executable, "-m", "infra.cli", "status"], capture_output=True, text=True, timeout=30, env=env
    )
    assert result.returncode == 2
    assert "--stack NAME" in result.stderr and "--endpoint-url" in result.stderr
