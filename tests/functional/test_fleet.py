"""The fleet count on the emulator's DynamoDB: environments counted in the ledger table's item."""

from __future__ import annotations

import time

import boto3

from infra.local.stack import LocalStack
from worker.fleet import DynamoFleetCounter, Fleet, FleetWatch


def test_environments_posting_are_counted_and_those_that_stop_drop_out(
    session: boto3.Session, stack: LocalStack
) -> None:
    counter = DynamoFleetCounter(session.client("dynamodb"), stack.outputs["LedgerTableName"])
    # GIVEN three environments counted in one second (the fleet's first: no full second yet)
    assert [counter.count(100, 1) for _ in range(3)] == [None, None, None]
    # WHEN two of them post on in the next second
    # THEN each learns the three of the second before and its place in this one
    assert counter.count(101, 1) == Fleet(size=3, rank=0)
    assert counter.count(101, 1) == Fleet(size=3, rank=1)
    # AND a second later, the one that stopped is no longer counted
    assert counter.count(102, 1) == Fleet(size=2, rank=0)
    # AND a newcomer counts itself in at once
    assert counter.count(102, 1) == Fleet(size=2, rank=1)
    assert counter.count(102, 1) == Fleet(size=3, rank=2)
    # AND after a pause of a few seconds the old seconds' counters are gone from the item
    assert counter.count(105, 1) is None
    item = session.client("dynamodb").get_item(
        TableName=stack.outputs["LedgerTableName"], Key={"message": {"S": "#fleet"}}
    )["Item"]
    assert {name for name in item if name.startswith("n")} == {"n105"}


def test_a_watch_keeps_its_environment_counted_while_it_posts(
    session: boto3.Session, stack: LocalStack
) -> None:
    counter = DynamoFleetCounter(session.client("dynamodb"), stack.outputs["LedgerTableName"])
    now = [200.5]
    watch = FleetWatch(counter, clock=lambda: now[0])
    counter.count(199, 1)  # another environment posted a second ago
    with watch.posting():
        deadline = time.monotonic() + 10
        while watch.current() is None and time.monotonic() < deadline:
            time.sleep(0.01)
    assert watch.current() == Fleet(size=1, rank=0, epoch=1)


def test_an_environment_that_leaves_is_out_of_the_count_at_once(
    session: boto3.Session, stack: LocalStack
) -> None:
    counter = DynamoFleetCounter(session.client("dynamodb"), stack.outputs["LedgerTableName"])
    # GIVEN three environments counted in second 300, two of them in 301 so far
    for _ in range(3):
        counter.count(300, 1)
    assert counter.count(301, 1) == Fleet(size=3, rank=0)
    counter.count(301, 1)
    # WHEN the second stops posting and leaves the counters it is in
    counter.leave([(300, 1), (301, 1)])
    # THEN the next environment to renew in 301 counts two, and itself second of them
    assert counter.count(301, 1) == Fleet(size=2, rank=1)


def test_environments_count_a_member_per_row_and_restate_a_new_batch(
    session: boto3.Session, stack: LocalStack
) -> None:
    counter = DynamoFleetCounter(session.client("dynamodb"), stack.outputs["LedgerTableName"])
    # GIVEN an environment with 300 rows to post and another with 100, counted in second 400
    assert counter.count(400, 300) is None and counter.count(400, 100) is None
    # WHEN the first takes a new batch of 200 rows and restates second 400 as it counts 401
    fleet = counter.count(401, 200, restated=-100)
    # THEN its part of the fleet is what the two have to post now (200 of 300), not 200 of 400
    assert fleet == Fleet(size=300, rank=0, members=200)
    # AND the second, counted after it, sees the same fleet and its own 100 members after it
    assert counter.count(401, 100) == Fleet(size=300, rank=200, members=100)
    # AND leaving takes out what each second counted of it
    counter.leave([(400, 200), (401, 200)])
    assert counter.count(402, 100) == Fleet(size=100, rank=0, members=100)
