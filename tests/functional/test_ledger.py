"""The ledger against DynamoDB on the emulator: one batch read for many messages."""

from __future__ import annotations

import boto3

from fanout.jobs import JobStore
from infra.local_stack import LocalStack
from worker.ledger import Ledger

JOB = "job-l"


def ledger_for(session: boto3.Session, stack: LocalStack) -> Ledger:
    JobStore(session.client("dynamodb"), stack.outputs["JobsTableName"]).create(JOB, "b", "k", "v")
    return Ledger(
        session.client("dynamodb"), stack.outputs["LedgerTableName"], stack.outputs["JobsTableName"]
    )


def test_settled_many_reads_what_record_wrote_for_more_keys_than_one_call_takes(
    session: boto3.Session, stack: LocalStack
) -> None:
    # GIVEN two messages with settled rows, among 150 keys (BatchGetItem takes 100 a call)
    ledger = ledger_for(session, stack)
    ledger.record(f"{JOB}#1", JOB, {1, 2}, {3})
    ledger.record(f"{JOB}#120", JOB, {7}, set())
    keys = [f"{JOB}#{n}" for n in range(1, 151)]
    # WHEN they are read in one go
    settled = ledger.settled_many(keys)
    # THEN each key has what `settled` would say, unknown ones nothing
    assert list(settled) == keys
    for key in (f"{JOB}#1", f"{JOB}#120", f"{JOB}#50"):
        assert settled[key] == ledger.settled(key)
    assert (settled[f"{JOB}#1"].posted, settled[f"{JOB}#1"].failed) == ({1, 2}, {3})
    assert settled[f"{JOB}#50"].version == 0


def test_a_stale_read_passed_to_record_costs_a_round_not_a_wrong_count(
    session: boto3.Session, stack: LocalStack
) -> None:
    # GIVEN a worker that read the ledger, then another worker recorded the same message
    ledger = ledger_for(session, stack)
    key = f"{JOB}#1"
    stale = ledger.settled_many([key])[key]
    ledger.record(key, JOB, {1}, set())
    # WHEN the first worker records with its stale read
    change = ledger.record(key, JOB, {1, 2}, set(), stale)
    # THEN only the row that was new is counted, once
    assert change.posted == {2}
    job = JobStore(session.client("dynamodb"), stack.outputs["JobsTableName"]).get(JOB)
    assert job is not None and job.rows_posted == 2
