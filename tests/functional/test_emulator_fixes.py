"""The emulator keeps DynamoDB's transaction guarantees that Fanout's counts rely on."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

from infra.local_stack import LocalStack


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
