"""Delivery against a misbehaving API: every row accounted for, the DLQ explains, redrive finishes.

`fanout local up` runs in one process; drop, status, dlq and redrive are separate processes that
find it through AWS_ENDPOINT_URL, as a user would use them.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.chaos_api import ChaosPolicy, refused
from infra.demo.api import DemoApi
from tests.e2e.cli import fanout as run_fanout
from tests.e2e.cli import local_up

pytestmark = pytest.mark.e2e

# CI runs 2,000 rows; the acceptance run is FANOUT_CHAOS_ROWS=50000.
ROWS = int(os.environ.get("FANOUT_CHAOS_ROWS", "2000"))
WAIT_S = max(120.0, ROWS / 50)


def fanout(endpoint: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run_fanout(*args, env={"AWS_ENDPOINT_URL": endpoint}, timeout=120)


@pytest.fixture
def chaos() -> Iterator[DemoApi]:
    with DemoApi(latency_s=(0.0, 0.002), decide=ChaosPolicy()) as running:
        yield running


@pytest.fixture
def endpoint(chaos: DemoApi, tmp_path: Path) -> Iterator[str]:
    with (
        (tmp_path / "local-up.log").open("w") as log,
        local_up(chaos.url, "--param", "RequestTimeoutSeconds=1", "--concurrency", "4", log=log) as url,
    ):
        yield url


def stalled_keys(job_id: str) -> set[str]:
    return {f"{job_id}:{n}" for n in range(1, ROWS + 1) if ChaosPolicy.stalls(n)}


def wait_for_state(endpoint: str, job_id: str, states: set[str], timeout_s: float = WAIT_S) -> list[str]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        row = fanout(endpoint, "status", job_id).stdout.splitlines()[1].split()
        if row[1] in states:
            return row
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} did not reach {states}: {row}")


@pytest.fixture(autouse=True)
def show_local_up_log(tmp_path: Path) -> Iterator[None]:
    yield
    log = tmp_path / "local-up.log"
    if log.exists():
        print(log.read_text()[-20_000:])


def test_chaos_run_dlq_and_redrive(tmp_path: Path, chaos: DemoApi, endpoint: str) -> None:
    source = tmp_path / "chaos.csv"
    source.write_text("id,text\n" + "".join(f'{n},"value {n}, with comma"\n' for n in range(1, ROWS + 1)))
    refused_ids = [n for n in range(1, ROWS + 1) if refused(n)]

    # WHEN the file is dropped and runs against the chaos API
    job_id = fanout(endpoint, "drop", str(source)).stdout.split()[0]
    row = wait_for_state(endpoint, job_id, {"done", "done_with_failures"})

    # THEN posted + failed + rejected = rows, and the failed rows are exactly the refused ones
    total, posted, failed, rejected = (int(x) for x in row[2:6])
    assert (total, posted, failed, rejected) == (ROWS, ROWS - len(refused_ids), len(refused_ids), 0)
    # AND every row that could succeed was posted once, by Idempotency-Key (a stalled call's late
    # answer went to no one: its row was posted on a later call)
    assert set(chaos.successes) == {f"{job_id}:{n}" for n in range(1, ROWS + 1) if not refused(n)}
    assert set(chaos.successes.values()) == {1}
    assert all(chaos.attempts[key] > 1 for key in stalled_keys(job_id))
    # AND refused rows were not retried
    assert all(chaos.attempts[f"{job_id}:{n}"] == 1 for n in refused_ids)

    # THEN the DLQ explains: counts by job and reason
    listing = fanout(endpoint, "dlq", "list")
    assert listing.returncode == 0, listing.stderr
    assert f"{job_id}  {len(refused_ids)}" in listing.stdout
    assert f"HTTP 400  {len(refused_ids)}" in listing.stdout
    shown = fanout(endpoint, "dlq", "show", "--job", job_id).stdout
    assert f"{job_id} row 5: HTTP 400 status=400 attempts=1" in shown
    assert "field text is invalid" in shown
    # AND the export holds the original columns plus reasons, ready to fix and drop again
    exported = fanout(endpoint, "dlq", "export", "--job", job_id)
    records = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert [r["id"] for r in records] == [str(n) for n in refused_ids]
    assert records[0]["text"] == "value 5, with comma"
    assert records[0]["_fanout_status"] == "400" and records[0]["_fanout_row"] == "5"

    # WHEN the API is fixed and the DLQ redriven (a dry run first moves nothing)
    dry = fanout(endpoint, "redrive", "--dry-run")
    assert "would move" in dry.stdout and f"({len(refused_ids)} rows)" in dry.stdout
    chaos.decide = ChaosPolicy(fixed=True)
    moved = fanout(endpoint, "redrive", "--job", job_id)
    assert moved.returncode == 0, moved.stderr
    assert f"({len(refused_ids)} rows)" in moved.stdout

    # THEN the job completes, each refused row posted once, nothing else posted again
    row = wait_for_state(endpoint, job_id, {"done"})
    assert [int(x) for x in row[2:6]] == [ROWS, ROWS, 0, 0]
    assert len(chaos.successes) == ROWS
    assert all(chaos.successes[f"{job_id}:{n}"] == 1 for n in refused_ids)
    # AND a second redrive finds nothing to do
    again = fanout(endpoint, "redrive")
    assert "moved 0 messages (0 rows)" in again.stdout
    assert "0 messages, 0 rows" in fanout(endpoint, "dlq", "list").stdout
