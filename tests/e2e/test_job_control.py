"""fanout cancel, the failure threshold and fanout resume against `fanout local up`."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fanout.jobs import Job, JobStore
from infra.demo.api import Call, DemoApi, Reply
from infra.local.endpoint import use_endpoint
from infra.local.stack import local_stack
from tests.e2e.cli import fanout as run_fanout
from tests.e2e.cli import local_up

pytestmark = pytest.mark.e2e

# Enough that the job is still running when `fanout cancel` (a process of its own) gets there.
CANCELLED_ROWS = 4_000
# Rows that stop being counted this long after a cancel is acknowledged have stopped.
QUIET_S = 2.0


def fanout(endpoint: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run_fanout(*args, env={"AWS_ENDPOINT_URL": endpoint}, timeout=120)


def refuse_without_email(call: Call) -> Reply:
    """The API wants an `email` field: a file whose column is named otherwise is refused whole."""
    if "email" not in call.payload:
        return Reply(422, body=b'{"error":"email is required"}')
    return Reply()


@pytest.fixture
def api() -> Iterator[DemoApi]:
    with DemoApi(latency_s=(0.02, 0.02), decide=refuse_without_email) as running:
        yield running


def write(path: Path, column: str, rows: int) -> Path:
    path.write_text(f"id,{column}\n" + "".join(f"{n},user{n}@example.com\n" for n in range(1, rows + 1)))
    return path


def drop(endpoint: str, path: Path) -> str:
    dropped = fanout(endpoint, "drop", str(path))
    assert dropped.returncode == 0, dropped.stderr
    return dropped.stdout.split("\t")[0]


def calls_of(api: DemoApi, job_id: str) -> int:
    return sum(n for key, n in list(api.attempts.items()) if key.startswith(job_id + ":"))


def wait_for(what: str, condition: Callable[[], bool], timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def quiet_since(count: Callable[[], int], timeout_s: float = 60.0) -> float:
    """When `count` last moved, once it has not moved for QUIET_S (a bounded wait)."""
    deadline = time.monotonic() + timeout_s
    last, since = count(), time.monotonic()
    while time.monotonic() - since < QUIET_S:
        assert time.monotonic() < deadline, "the calls never stopped"
        time.sleep(0.05)
        now = count()
        if now != last:
            last, since = now, time.monotonic()
    return since


def test_cancel_halt_and_resume(tmp_path: Path, api: DemoApi) -> None:
    flags = ("--concurrency", "2", "--threads", "4", "--processes", "1", "--param", "RowsPerMessage=20")
    with local_up(api.url, *flags) as endpoint:
        session = use_endpoint(endpoint)
        jobs = JobStore(
            session.client("dynamodb"), local_stack(session, {}, create=False).outputs["JobsTableName"]
        )

        def job(job_id: str) -> Job:
            found = jobs.get(job_id)
            assert found is not None
            return found

        def state(job_id: str) -> str:
            """The job's state; "" until the splitter has recorded it."""
            found = jobs.get(job_id)
            return found.state if found is not None else ""

        # GIVEN two jobs running side by side
        cancelled = drop(endpoint, write(tmp_path / "cancelled.csv", "email", CANCELLED_ROWS))
        untouched = drop(endpoint, write(tmp_path / "untouched.csv", "email", 400))
        wait_for("the first rows", lambda: calls_of(api, cancelled) >= 100)
        # WHEN one is cancelled
        launched = time.monotonic()
        answer = fanout(endpoint, "cancel", cancelled, "--reason", "wrong file")
        acknowledged = time.monotonic()
        assert answer.returncode == 0, answer.stderr
        # THEN its calls stop within seconds (how long: printed for the notes, not asserted)
        stopped = quiet_since(lambda: calls_of(api, cancelled))
        print(
            f"fanout cancel took {acknowledged - launched:.2f} s; its last call came "
            f"{stopped - launched:.2f} s after it started, {stopped - acknowledged:+.2f} s after it returned"
        )
        assert calls_of(api, cancelled) < CANCELLED_ROWS
        # ... the other job finishes untouched, every row once
        wait_for("the other job", lambda: state(untouched) == "done")
        assert calls_of(api, untouched) == 400
        # ... and the cancelled one ends with every row accounted for
        wait_for("the cancelled job to drain", lambda: job(cancelled).is_finished)
        stopped_job = job(cancelled)
        assert (stopped_job.state, stopped_job.control_reason) == ("cancelled", "wrong file")
        assert stopped_job.rows_posted + stopped_job.rows_cancelled == CANCELLED_ROWS
        assert stopped_job.rows_cancelled > 0
        status = fanout(endpoint, "status", cancelled)
        assert "cancelled: wrong file" in status.stdout

        # WHEN a file whose column the API does not know is dropped
        halted = drop(endpoint, write(tmp_path / "wrong-mapping.csv", "mail", 1_500))
        wait_for("the halt", lambda: state(halted) == "halted" and job(halted).is_finished)
        # THEN it halts after about the minimum rows (100 by default), with the reason
        halted_job = job(halted)
        assert halted_job.state == "halted"
        assert "rows failed" in halted_job.control_reason and "> 10%" in halted_job.control_reason
        refused = calls_of(api, halted)
        print(f"refused calls before the halt: {refused} of 1,500 rows")
        assert 100 <= refused <= 400
        assert halted_job.rows_failed + halted_job.rows_cancelled == 1_500

        # WHEN the cause is fixed and both are resumed
        api.decide = lambda call: Reply()
        for job_id in (cancelled, halted):
            resumed = fanout(endpoint, "resume", job_id)
            assert resumed.returncode == 0, resumed.stderr
        # THEN both complete with every row posted exactly once
        wait_for("the resumed jobs", lambda: state(cancelled) == state(halted) == "done", 180)
        for job_id, rows in ((cancelled, CANCELLED_ROWS), (halted, 1_500)):
            accepted = {key: n for key, n in api.successes.items() if key.startswith(job_id + ":")}
            assert len(accepted) == rows and set(accepted.values()) == {1}
            assert (job(job_id).rows_posted, job(job_id).rows_cancelled) == (rows, 0)


def test_a_run_that_halts_exits_1_and_its_report_says_why(tmp_path: Path, api: DemoApi) -> None:
    source = write(tmp_path / "wrong.csv", "mail", 2_000)
    report = tmp_path / "report.json"
    done = run_fanout(
        "run",
        str(source),
        "--api-url",
        api.url,
        "--report",
        str(report),
        "--processes",
        "1",
        "--tolerated-failure-min-rows",
        "50",
        timeout=180,
    )
    assert done.returncode == 1, done.stderr
    written = json.loads(report.read_text())
    assert written["state"] == "halted"
    assert "rows failed" in written["reason"]
    assert written["rows_failed"] + written["rows_cancelled"] == written["rows_total"] == 2_000
    assert sum(api.attempts.values()) < 400
