"""The emulator keeps DynamoDB's transaction guarantees that Fanout's counts rely on."""

from __future__ import annotations

import threading

import boto3
import pytest
from botocore.exceptions import ClientError

from infra.local.stack import LocalStack


def test_a_cancelled_transaction_leaves_every_item_as_it_was(
    session: boto3.Session, stack: LocalStack
) -> None:
    db = session.client("dynamodb")
    table = stack.outputs["JobsTableName"]
    db.put_item(TableName=table, Item={"job_id": {"S": "a"}, "n": {"N": "1"}})
    # WHEN a transaction adds to item a, creates item c, and fails a condition on item b
    with pytest.raises(ClientError, match="TransactionCanceled"):
        db.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": table,
                        "Key": {"job_id": {"S": "a"}},
                        "UpdateExpression": "ADD n :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                    }
                },
                {"Put": {"TableName": table, "Item": {"job_id": {"S": "c"}}}},
                {
                    "Update": {
                        "TableName": table,
                        "Key": {"job_id": {"S": "b"}},
                        "UpdateExpression": "SET x = :one",
                        "ConditionExpression": "attribute_exists(job_id)",
                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                    }
                },
            ]
        )
    # THEN nothing of it remains
    assert db.get_item(TableName=table, Key={"job_id": {"S": "a"}})["Item"]["n"] == {"N": "1"}
    assert "Item" not in db.get_item(TableName=table, Key={"job_id": {"S": "c"}})
    assert "Item" not in db.get_item(TableName=table, Key={"job_id": {"S": "b"}})


def test_a_read_sees_an_update_whole_or_not_at_all(session: boto3.Session, stack: LocalStack) -> None:
    # GIVEN an item whose twenty attributes one writer keeps setting and removing together
    table = stack.outputs["JobsTableName"]
    key = {"job_id": {"S": "torn"}}
    names = [f"a{n}" for n in range(20)]
    writer, reader = session.client("dynamodb"), session.client("dynamodb")
    writer.put_item(TableName=table, Item=key)
    read_enough = threading.Event()

    def write() -> None:
        for i in range(2_000):  # a bound; the reads end it sooner
            if read_enough.is_set():
                return
            writer.update_item(
                TableName=table,
                Key=key,
                UpdateExpression="SET " + ", ".join(f"{n} = :v" for n in names),
                ExpressionAttributeValues={":v": {"N": str(i)}},
            )
            writer.update_item(TableName=table, Key=key, UpdateExpression="REMOVE " + ", ".join(names))

    # WHEN another client reads it 300 times meanwhile (as `fanout run` polls a job the splitter writes)
    thread = threading.Thread(target=write)
    thread.start()
    seen = []
    try:
        for _ in range(300):
            item = reader.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]
            seen.append(sorted({k: v["N"] for k, v in item.items() if k in names}.items()))
    finally:
        read_enough.set()
        thread.join()
    # THEN each read saw all twenty attributes with one value, or none (DynamoDB reads an item whole)
    torn = [s for s in seen if s and (len(s) != len(names) or len({v for _, v in s}) != 1)]
    assert torn == []
