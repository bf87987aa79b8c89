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


def test_concurrent_receives_never_hand_out_the_same_message_twice(
    session: boto3.Session, stack: LocalStack
) -> None:
    # GIVEN a queue of 1,000 messages and sixteen pollers, each with its own connection
    sqs = session.client("sqs")
    url = sqs.create_queue(QueueName="contended")["QueueUrl"]
    for start in range(0, 1000, 10):
        entries = [{"Id": str(n), "MessageBody": str(start + n)} for n in range(10)]
        sqs.send_message_batch(QueueUrl=url, Entries=entries)
    received: list[str] = []
    lock = threading.Lock()

    def poll() -> None:
        client = session.client("sqs")
        for _ in range(100):  # a bound; an empty queue ends it sooner
            batch = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=600)
            if not batch.get("Messages"):
                return
            with lock:
                received.extend(m["Body"] for m in batch["Messages"])

    # WHEN they all receive at once until the queue is empty
    threads = [threading.Thread(target=poll) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # THEN every message went to exactly one poller (SQS hides a received message from the rest)
    assert sorted(received, key=int) == [str(n) for n in range(1000)]


def test_an_event_source_mapping_is_configuration_only(session: boto3.Session, stack: LocalStack) -> None:
    # GIVEN the stack's mapping from the work queue to the worker
    lam, sqs = session.client("lambda"), session.client("sqs")
    function = stack.outputs["WorkerFunctionName"]
    (mapping,) = lam.list_event_source_mappings(FunctionName=function)["EventSourceMappings"]
    # WHEN a message is sent to the mapped queue
    url = stack.outputs["WorkQueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="for the local runtime")
    # THEN the emulator did not receive it for the function (no Docker invocation): the first
    # receive is the message's first
    (message,) = sqs.receive_message(QueueUrl=url, AttributeNames=["ApproximateReceiveCount"])["Messages"]
    assert message["Attributes"]["ApproximateReceiveCount"] == "1"
    # AND the mapping's settings stay readable and updatable, as `fanout pause` uses them
    lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
    assert lam.get_event_source_mapping(UUID=mapping["UUID"])["State"] == "Disabled"
