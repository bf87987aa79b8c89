"""The worker when things go wrong: duplicates, a killed invocation, the Lambda deadline."""

from __future__ import annotations

import threading
import time
from typing import Any

import boto3

from infra.demo.api import DemoApi, Reply
from infra.local.event_source import LocalContext
from infra.local.stack import LocalStack
from tests.functional.helpers import JOB, event_for, invoke, job, kill_part_way, message, setup_job
from worker.core import SETTLE_RESERVE_S
from worker.handler import build
from worker.ledger import Ledger, Outcome


def ledger(session: boto3.Session, stack: LocalStack) -> Ledger:
    return Ledger(
        session.client("dynamodb"), stack.outputs["LedgerTableName"], stack.outputs["JobsTableName"]
    )


def test_the_same_message_held_by_two_workers_at_once_is_counted_once(
    session: boto3.Session, stack: LocalStack, api: DemoApi
) -> None:
    # GIVEN SQS hands the same messages to two invocations at the same time
    received = setup_job(session, stack, [message(1, 1, 40), message(2, 41, 40)])
    results: list[dict[str, Any]] = []
    threads = [
        threading.Thread(target=lambda: results.append(invoke(session, stack, received))) for _ in range(2)
    ]
    [t.start() for t in threads]
    [t.join() for t in threads]
    # THEN both settle, and the job counts each row once
    assert results == [{"batchItemFailures": []}] * 2
    current = job(session, stack)
    assert (current.rows_posted, current.rows_failed, current.state) == (80, 0, "done")
    assert set(api.successes) == {f"{JOB}:{n}" for n in range(1, 81)}


def test_a_killed_invocation_does_not_post_its_flushed_rows_again(
    session: boto3.Session, stack: LocalStack, api: DemoApi, tmp_path: Any
) -> None:
    # GIVEN a message of 200 rows against an API that takes 20 ms a call, posted 2 at a time
    # WHEN the invocation is killed (SIGKILL) part way through
    received = kill_part_way(session, stack, api, tmp_path)
    # Calls the killed process had in flight still land (the API answers them after its delay).
    _wait_until_quiet(api)
    recorded = ledger(session, stack).settled(f"{JOB}#1").posted
    posted_before = set(api.successes)
    assert 0 < len(recorded) < 200
    # AND the message is delivered again
    assert invoke(session, stack, received) == {"batchItemFailures": []}
    # THEN no flushed row was posted again, every row arrived, and the count is exact
    again = {key for key, count in api.successes.items() if count > 1}
    assert not again & {f"{JOB}:{n}" for n in recorded}
    assert again <= posted_before
    assert set(api.successes) == {f"{JOB}:{n}" for n in range(1, 201)}
    assert job(session, stack).rows_posted == 200


def _wait_until_quiet(api: DemoApi, quiet_s: float = 0.5, limit_s: float = 10.0) -> None:
    """Until the API has counted no new success for `quiet_s`."""
    deadline = time.monotonic() + limit_s
    seen = -1
    while seen != len(api.successes) and time.monotonic() < deadline:
        seen = len(api.successes)
        time.sleep(quiet_s)


def test_near_the_deadline_it_stops_starting_rows_and_reports_the_message(
    session: boto3.Session, stack: LocalStack, api: DemoApi
) -> None:
    # GIVEN an invocation with 2 s left for posting (beyond what it keeps back for settling), and
    # an API taking 100 ms a call: 8 threads post about 160 of the 200 rows in that time
    api.decide = lambda call: Reply(delay_s=0.1)
    received = setup_job(session, stack, [message(1, 1, 200)])
    env = {**stack.functions["WorkerFunction"].environment, "REQUEST_TIMEOUT_S": "1"}
    worker = build(env, session=session)
    context = LocalContext("w", 1024, SETTLE_RESERVE_S + 2.0)
    response = worker.handle(event_for(stack, "WorkerFunction", received), context)
    # THEN it stops starting rows, reports the message, and records the posted rows
    assert response == {"batchItemFailures": [{"itemIdentifier": received[0]["MessageId"]}]}
    posted = job(session, stack).rows_posted
    assert 0 < posted < 200
    assert posted == len(api.successes)
    # AND the next delivery posts only the rest
    assert invoke(session, stack, received) == {"batchItemFailures": []}
    assert set(api.successes.values()) == {1}
    assert job(session, stack).rows_posted == 200


def test_concurrent_ledger_transactions_lose_no_counts(session: boto3.Session, stack: LocalStack) -> None:
    # GIVEN many workers recording different messages of one job at the same time
    setup_job(session, stack, [])
    book = ledger(session, stack)

    def record(worker: int) -> None:
        for n in range(10):
            book.record([Outcome(f"{JOB}#{worker}-{n}", JOB, frozenset({1, 2, 3}))])

    threads = [threading.Thread(target=record, args=(w,)) for w in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    # THEN the job's counter is the sum of them all
    assert job(session, stack).rows_posted == 8 * 10 * 3


def test_a_ledger_write_from_what_the_invocation_knows_reads_nothing_and_a_stale_view_counts_right(
    session: boto3.Session, stack: LocalStack
) -> None:
    setup_job(session, stack, [])
    dynamodb = session.client("dynamodb")
    book = Ledger(dynamodb, stack.outputs["LedgerTableName"], stack.outputs["JobsTableName"])
    reads: list[str] = []
    dynamodb.meta.events.register("before-call.dynamodb.BatchGetItem", lambda **kwargs: reads.append("read"))
    key = f"{JOB}#1"
    # GIVEN an invocation that read its message's ledger item at its start
    known = book.settled_many([key])
    reads.clear()
    # WHEN it flushes rows 1-2, then settles rows 1-3
    book.record([Outcome(key, JOB, frozenset({1, 2}))], known)
    book.record([Outcome(key, JOB, frozenset({1, 2, 3}))], known)
    # THEN it wrote from what it knew, without reading the item again
    assert reads == []
    assert known[key].posted == {1, 2, 3}
    # AND WHEN another invocation holding the same message records rows 4-5 meanwhile
    book.record([Outcome(key, JOB, frozenset({4, 5}))])
    reads.clear()
    book.record([Outcome(key, JOB, frozenset({3, 4, 5, 6}))], known)
    # THEN the stale view loses the version check, is read again, and only row 6 is new
    assert reads == ["read"]
    assert job(session, stack).rows_posted == 6
    assert book.settled(key).posted == {1, 2, 3, 4, 5, 6}
