"""The emulator's shortcuts change its cost, never its answers."""

from __future__ import annotations

import datetime
from collections.abc import Iterator

import boto3
import pytest
from moto import backends, mock_aws
from moto.core import utils
from moto.sqs import models

from infra.local.emulator_speedups import apply_speedups


def test_sqs_clock_reads_now_as_moto_did_and_converts_given_times_the_long_way() -> None:
    # GIVEN the routing moto does before the shortcut
    listed_before = sorted(backends.list_of_moto_modules())
    # WHEN the shortcuts are applied
    apply_speedups()
    sqs_unix_time, sqs_unix_time_millis = models.__dict__["unix_time"], models.__dict__["unix_time_millis"]
    # THEN SQS reads "now" in the unit and epoch moto's own clock reads it: each reading falls
    # between moto's readings just before and just after it
    assert sqs_unix_time is not utils.unix_time
    for shortcut, moto_clock in (
        (sqs_unix_time, utils.unix_time),
        (sqs_unix_time_millis, utils.unix_time_millis),
    ):
        before = moto_clock()
        now = shortcut()
        assert before <= now <= moto_clock()
    # AND a given datetime is converted exactly as moto converts it
    given = datetime.datetime(2026, 11, 29, 12, 0, 0, 250000)
    assert sqs_unix_time(given) == utils.unix_time(given)
    assert sqs_unix_time_millis(given) == utils.unix_time_millis(given)
    # AND routing sees the same moto modules, listed once
    assert sorted(backends.list_of_moto_modules()) == listed_before
    assert "sqs" in backends.list_of_moto_modules()


@pytest.fixture
def in_process_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto in this process, with the emulator's shortcuts: no endpoint another test pointed at."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    for name, value in (("AWS_ACCESS_KEY_ID", "x"), ("AWS_SECRET_ACCESS_KEY", "x")):
        monkeypatch.setenv(name, value)
    apply_speedups()
    with mock_aws():
        yield


@pytest.mark.usefixtures("in_process_aws")
def test_an_update_expression_is_parsed_once_and_every_write_still_gets_its_own_values() -> None:
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    expression = "SET version = :next ADD posted :p"
    # THEN one expression is parsed once
    assert UpdateExpressionParser.make(expression) is UpdateExpressionParser.make(expression)
    db = boto3.client("dynamodb", region_name="us-east-1")
    db.create_table(
        TableName="ledger",
        KeySchema=[{"AttributeName": "message", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "message", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    # WHEN two transactions write the same expression with different values
    for version, rows in ((1, ["1", "2"]), (2, ["3"])):
        update = {
            "TableName": "ledger",
            "Key": {"message": {"S": "j#1"}},
            "UpdateExpression": expression,
            "ExpressionAttributeValues": {":next": {"N": str(version)}, ":p": {"NS": rows}},
        }
        db.transact_write_items(TransactItems=[{"Update": update}])
    # THEN each write applied its own values
    item = db.get_item(TableName="ledger", Key={"message": {"S": "j#1"}})["Item"]
    assert item["version"] == {"N": "2"}
    assert sorted(item["posted"]["NS"]) == ["1", "2", "3"]


def test_a_message_past_the_queues_retention_period_is_not_received_and_others_are(
    monkeypatch: pytest.MonkeyPatch, in_process_aws: None
) -> None:
    from moto.sqs.models import SQSBackend, sqs_backends

    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="q", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
    sqs.send_message_batch(
        QueueUrl=url, Entries=[{"Id": "old", "MessageBody": "old"}, {"Id": "new", "MessageBody": "new"}]
    )
    # GIVEN the second message sent 61 seconds ago, past the queue's 60 s retention period
    # (moto stops at the first expired message: it assumes they expire in order)
    account = boto3.client("sts", region_name="us-east-1").get_caller_identity()["Account"]
    queue = sqs_backends[account]["us-east-1"].get_queue("q")
    expired = next(m for m in queue._messages if m.body == "new")
    expired.sent_timestamp -= 61_000
    # WHEN both are received
    attribute_reads = []
    read_attributes = SQSBackend.get_queue_attributes
    monkeypatch.setattr(
        SQSBackend,
        "get_queue_attributes",
        lambda *args: attribute_reads.append(args) or read_attributes(*args),
    )
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    # THEN only the one within the period comes back
    assert [m["Body"] for m in received] == ["old"]
    # AND without computing the queue's attributes (each a pass over every message) per message
    assert attribute_reads == []


def test_queue_counts_are_moto_s_own(in_process_aws: None) -> None:
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="counted")["QueueUrl"]
    # GIVEN messages available, delayed, and received (not visible)
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(n), "MessageBody": str(n)} for n in range(5)])
    sqs.send_message_batch(
        QueueUrl=url, Entries=[{"Id": str(n), "MessageBody": "later", "DelaySeconds": 60} for n in range(2)]
    )
    sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=3, VisibilityTimeout=60)
    # THEN the counts are what moto's own passes over the queue give
    names = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesDelayed",
        "ApproximateNumberOfMessagesNotVisible",
    ]
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]  # type: ignore[arg-type]
    account = boto3.client("sts", region_name="us-east-1").get_caller_identity()["Account"]
    queue = models.sqs_backends[account]["us-east-1"].get_queue("counted")
    by_moto = (
        len([m for m in queue._messages if m.visible and not m.delayed]),
        len([m for m in queue._messages if m.delayed]),
        len([m for m in queue._messages if not m.visible]),
    )
    assert tuple(int(counts[name]) for name in names) == by_moto == (2, 2, 3)


def test_a_message_sent_does_not_read_the_clock_for_every_message_queued(
    monkeypatch: pytest.MonkeyPatch, in_process_aws: None
) -> None:
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="deep")["QueueUrl"]
    for start in range(0, 100, 10):
        sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": str(n), "MessageBody": str(n)} for n in range(start, start + 10)]
        )
    # GIVEN 100 messages queued, and the clock's readings counted
    reads = []
    clock = models.unix_time_millis  # type: ignore[attr-defined]
    monkeypatch.setattr(models, "unix_time_millis", lambda *a: reads.append(1) or clock(*a))
    # WHEN one more is sent
    sqs.send_message(QueueUrl=url, MessageBody="one more")
    # THEN the clock was read a few times, not three times per queued message
    assert 0 < len(reads) < 20
