"""`fanout local up` in one process; drop and status from others, found by AWS_ENDPOINT_URL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3
import pytest

from infra.demo.api import Call, DemoApi, Reply
from tests.e2e.chromium import Page
from tests.e2e.cli import fanout, free_port
from tests.e2e.cli import local_up as run_local_up

pytestmark = pytest.mark.e2e


@pytest.fixture
def api() -> Iterator[DemoApi]:
    with DemoApi(latency_s=(0.0, 0.0)) as running:
        yield running


@pytest.fixture
def local_up(api: DemoApi) -> Iterator[str]:
    with run_local_up(api.url) as url:
        yield url


def test_ctrl_c_stops_the_stack_and_every_process_it_started_cleanly(api: DemoApi) -> None:
    # GIVEN `fanout local up` in a terminal of its own (a process group: the emulator, the
    # workers' processes and the CLI)
    with _local_up_in_own_group(api.url) as (process, _):
        # WHEN Ctrl-C reaches the whole group, as a terminal sends it
        os.killpg(process.pid, signal.SIGINT)
        output = _ended_output(process, within_s=60)
        # THEN the stack stops in order: exit 0, no traceback, no process of the group left behind
        assert process.returncode == 0, output
        assert "Traceback" not in output
        _wait_group_gone(process.pid, within_s=10)


def test_terminate_stops_the_stack_as_ctrl_c_does(api: DemoApi) -> None:
    # GIVEN `fanout local up` in a process group of its own
    with _local_up_in_own_group(api.url) as (process, _):
        # WHEN only the CLI is sent SIGTERM (`kill PID`, a service manager stopping it)
        process.terminate()
        output = _ended_output(process, within_s=60)
        # THEN it stops as Ctrl-C stops it: exit 0, no traceback, every process it started gone
        assert process.returncode == 0, output
        assert "stopping" in output
        assert "Traceback" not in output
        _wait_group_gone(process.pid, within_s=10)


def test_a_terminate_sent_to_the_whole_group_ends_every_process_of_it(api: DemoApi) -> None:
    # GIVEN `fanout local up` in a process group of its own
    with _local_up_in_own_group(api.url) as (process, _):
        # WHEN SIGTERM reaches every process of the group at once (`timeout`, a container stop):
        # the emulator and the workers' processes end on the spot, the CLI stops what is left
        os.killpg(process.pid, signal.SIGTERM)
        # THEN the CLI ends too (it waited for ever on the stop signal of workers that had gone)
        _ended_output(process, within_s=90)
        _wait_group_gone(process.pid, within_s=10)


def test_worker_processes_do_not_outlive_a_killed_cli(tmp_path: Path) -> None:
    # GIVEN `fanout local up` in the middle of an invocation (every call takes a second)
    with DemoApi(latency_s=(1.0, 1.0)) as slow, _local_up_in_own_group(slow.url) as (process, endpoint):
        source = tmp_path / "slow.csv"
        source.write_text("id\n" + "".join(f"{n}\n" for n in range(1, 2001)))
        assert fanout("drop", str(source), env={"AWS_ENDPOINT_URL": endpoint}).returncode == 0
        deadline = time.monotonic() + 60
        while not slow.stats()["calls"]:
            assert time.monotonic() < deadline, "no row reached the API"
            time.sleep(0.2)
        # WHEN the CLI is killed outright, with no chance to stop what it started
        process.kill()
        process.wait(timeout=10)
        # THEN its worker processes and the emulator go too, without finishing the invocation
        # (a thousand one-second rows on eight threads: two minutes)
        _wait_group_gone(process.pid, within_s=20)


@contextmanager
def _local_up_in_own_group(api_url: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`fanout local up` as a terminal runs it (a process group of its own); and its endpoint.

    Whatever the test did, no process of the group outlives it.
    """
    process = subprocess.Popen(
        [sys.executable, "-m", "infra.cli", "local", "up", "--api-url", api_url, "--port", str(free_port())],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        # A CLI that does not stop is sent SIGABRT (_ended_output): every thread's stack, printed.
        env={**os.environ, "PYTHONFAULTHANDLER": "1"},
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("local stack up at "), first
        yield process, first.split()[4]
    finally:
        if group_alive(process.pid):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _ended_output(process: subprocess.Popen[str], within_s: float) -> str:
    """The CLI's output once it has ended; if it has not within `within_s`, the test fails with
    where each of its threads was (faulthandler's dump on SIGABRT) in the message."""
    try:
        return process.communicate(timeout=within_s)[0]
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGABRT)
        output, _ = process.communicate(timeout=30)
        pytest.fail(f"`fanout local up` still running {within_s:.0f} s after the signal:\n{output}")


def _wait_group_gone(group: int, within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while group_alive(group):
        assert time.monotonic() < deadline, "processes of the stack outlived it"
        time.sleep(0.2)


def group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


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
        "CANCELLED",
        "ROWS/S",
        "ETA",
        "THROTTLED",
        "INV.FAILED",
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


def test_status_follows_a_running_job_and_the_dashboard_shows_it(
    tmp_path: Path, api: DemoApi, local_up: str
) -> None:
    env = {"AWS_ENDPOINT_URL": local_up}
    # GIVEN an API that answers rows 1-100 (slowly enough for a worker's ledger flush to
    # record some of them) and holds the rest until the test lets them go
    gate = threading.Event()

    def decide(call: Call) -> Reply:
        if int(call.payload["id"]) <= 100:
            time.sleep(0.1)
            return Reply()
        return Reply() if gate.wait(30) else Reply(503)

    api.decide = decide
    source = tmp_path / "held.csv"
    source.write_text("id,name\n" + "".join(f"{n},person {n}\n" for n in range(1, 301)))
    dropped = fanout("drop", str(source), env=env)
    assert dropped.returncode == 0, dropped.stderr
    job_id = dropped.stdout.split()[0]
    # WHEN some rows are posted and the rest are held
    row = wait_for_status(job_id, env, lambda cells: int(cells[3]) > 0)
    # THEN status shows the job running, with its total, a rate and an ETA
    job, state, total, posted, failed, rejected, cancelled, rate, eta = row[:9]
    assert (job, state, total, failed, rejected, cancelled) == (job_id, "running", "300", "0", "0", "0")
    assert 0 < int(posted) <= 100
    assert float(rate) > 0 and eta.endswith("s") and float(eta[:-1]) >= 0
    # WHEN the API lets the rest through
    gate.set()
    done = wait_for_status(job_id, env, lambda cells: cells[1] == "done")
    assert done[:4] == [job_id, "done", "300", "300"]
    # THEN the job's report is in the bucket, where status says it is
    detail = fanout("status", job_id, env=env).stdout
    report_url = next(line.split()[1] for line in detail.splitlines() if line.startswith("report: "))
    bucket, key = report_url.removeprefix("s3://").split("/", 1)
    s3 = boto3.client(
        "s3", endpoint_url=local_up, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    report = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    assert (report["job_id"], report["state"], report["rows_posted"]) == (job_id, "done", 300)
    # AND the dashboard of the running stack counts the rows posted
    page_path = tmp_path / "dashboard.html"
    drawn = fanout("dashboard", "--out", str(page_path), env=env)
    assert drawn.returncode == 0, drawn.stderr
    with Page(page_path.as_uri()) as page:
        totals = page.evaluate(POSTED_TOTAL_JS)
        assert page.errors == []
    assert totals == 300


POSTED_TOTAL_JS = """
Number(document.querySelector('.legend li[data-metric="Fanout RowsPosted"]').dataset.total)
"""


def wait_for_status(job_id: str, env: dict[str, str], done: Callable[[list[str]], bool]) -> list[str]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = fanout("status", job_id, env=env)
        assert status.returncode == 0, status.stderr
        cells = status.stdout.splitlines()[1].split()
        if done(cells):
            return cells
        time.sleep(0.3)
    raise AssertionError(f"status never got there: {status.stdout}")
