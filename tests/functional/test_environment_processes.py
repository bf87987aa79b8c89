"""The workers' execution environments in child processes: one mapping as seen from the parent."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from pathlib import Path

import boto3
import pytest

from fanout.jobs import JobStore
from infra.cli.run_job import drop_file
from infra.demo.api import DemoApi
from infra.local.environment_processes import ProcessEventSource, slots_of
from infra.local.runtime import LocalRuntime
from infra.local.stack import LocalStack

ROWS = 450  # RowsPerMessage is 100: five work messages


def test_environments_are_spread_so_any_maximum_concurrency_leaves_work_in_each_process() -> None:
    assert [slots_of(p, 3, 8) for p in range(3)] == [[0, 3, 6], [1, 4, 7], [2, 5]]
    assert sorted(s for p in range(3) for s in slots_of(p, 3, 8)) == list(range(8))


def test_a_job_through_worker_processes_posts_every_row_once_and_the_parent_sees_it_all(
    session: boto3.Session, stack: LocalStack, api: DemoApi, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a file, and the workers' environments spread over two processes
    caplog.set_level(logging.INFO)
    source = tmp_path / "rows.csv"
    source.write_text("id\n" + "".join(f"{n}\n" for n in range(1, ROWS + 1)))
    jobs = JobStore(session.client("dynamodb"), stack.outputs["JobsTableName"])
    with LocalRuntime(session, stack, concurrency=4, processes=2) as runtime:
        workers = runtime.sources["WorkerFunction"]
        assert isinstance(workers, ProcessEventSource)
        # WHEN the file is dropped and the job runs to its end
        drop_file(session, stack, source)
        deadline = time.monotonic() + 60
        while not any(job.state == "done" for job in jobs.list()):
            assert time.monotonic() < deadline, "the job did not finish"
            time.sleep(0.2)
    # THEN every row reached the API once
    assert sorted(int(p["id"]) for p in api.payloads.values()) == list(range(1, ROWS + 1))
    assert api.stats()["duplicates"] == 0
    # AND the children's invocations are counted in the parent, every work message deleted
    assert workers.stats.invocations >= 1
    assert workers.stats.messages_deleted == 5
    assert workers.stats.in_flight == 0
    # AND the children's log records reached the parent's logging
    settled = [r for r in caplog.records if r.getMessage().startswith("settled message")]
    assert len(settled) == 5


def test_stop_ends_when_a_child_killed_by_a_signal_left_a_queue_locked(
    session: boto3.Session, stack: LocalStack
) -> None:
    # GIVEN the workers' environments in two processes, and the queue they report on locked by a
    # writer that will never let go (what a child killed half way through a write leaves)
    runtime = LocalRuntime(session, stack, concurrency=4, processes=2)
    runtime.start()
    workers = runtime.sources["WorkerFunction"]
    assert isinstance(workers, ProcessEventSource)
    lock = workers._events._wlock  # type: ignore[attr-defined]
    assert lock.acquire(timeout=10)
    try:
        # WHEN SIGTERM ends the children on the spot, as it does for a whole process group
        for child in workers._children:
            assert child.pid is not None
            os.kill(child.pid, signal.SIGTERM)
        stopping = threading.Thread(target=runtime.stop, daemon=True)
        stopping.start()
        # THEN the stop still ends (it waited for ever on the relay's sentinel)
        stopping.join(30)
        assert not stopping.is_alive(), "stop hung on the children's queue"
    finally:
        lock.release()
