"""Which rows of a message are already settled, kept across redeliveries and redrives.

SQS delivers at least once and a partly failed message comes back whole; the ledger lets a
worker post only the rows still open, and moves the job's counters in the same transaction so
counts stay exact even when two workers hold the same message at once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fanout.errors import RetryableError
from fanout.jobs import counter_update

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# Optimistic-concurrency retries when another worker changed the same message's record.
RECORD_ATTEMPTS = 5
# Ledger records outlive any redrive a user would do (14 days, the SQS maximum retention).
RETENTION_S = 14 * 24 * 3600


@dataclass(frozen=True)
class Settled:
    posted: frozenset[int]
    failed: frozenset[int]
    version: int


@dataclass(frozen=True)
class Change:
    """What a record call changed: rows newly posted, newly failed, and failed rows now posted."""

    posted: frozenset[int]
    failed: frozenset[int]
    recovered: frozenset[int]


def _numbers(item: dict[str, Any], name: str) -> frozenset[int]:
    return frozenset(int(n) for n in item.get(name, {}).get("NS", []))


class Ledger:
    def __init__(self, dynamodb: DynamoDBClient, table: str, jobs_table: str) -> None:
        self._db = dynamodb
        self._table = table
        self._jobs_table = jobs_table

    def settled(self, message_key: str) -> Settled:
        item = self._db.get_item(
            TableName=self._table, Key={"message": {"S": message_key}}, ConsistentRead=True
        )
        found = item.get("Item", {})
        return Settled(
            _numbers(found, "posted"),
            _numbers(found, "failed"),
            int(found.get("version", {}).get("N", "0")),
        )

    def record(self, message_key: str, job_id: str, posted: set[int], failed: set[int]) -> Change:
        """Marks rows posted or failed; posted rows that had failed before count as recovered."""
        for _ in range(RECORD_ATTEMPTS):
            before = self.settled(message_key)
            change = Change(
                posted=frozenset(posted - before.posted),
                failed=frozenset(failed - before.posted - before.failed),
                recovered=frozenset((posted - before.posted) & before.failed),
            )
            if not (change.posted or change.failed):
                return change
            try:
                self._db.transact_write_items(
                    TransactItems=self._actions(message_key, job_id, before, change)
                )
            except self._db.exceptions.TransactionCanceledException:
                continue  # another worker recorded this message meanwhile: read again
            return change
        raise RetryableError(f"ledger for message {message_key} kept changing under us")

    def _actions(self, message_key: str, job_id: str, before: Settled, change: Change) -> list[Any]:
        adds = []
        values: dict[str, Any] = {
            ":v": {"N": str(before.version)},
            ":next": {"N": str(before.version + 1)},
            ":job": {"S": job_id},
            ":expires": {"N": str(int(time.time()) + RETENTION_S)},
        }
        if change.posted:
            adds.append("posted :p")
            values[":p"] = {"NS": [str(n) for n in sorted(change.posted)]}
        if change.failed:
            adds.append("failed :f")
            values[":f"] = {"NS": [str(n) for n in sorted(change.failed)]}
        expression = "SET version = :next, job_id = :job, expires_at = :expires ADD " + ", ".join(adds)
        if change.recovered:
            expression += " DELETE failed :r"
            values[":r"] = {"NS": [str(n) for n in sorted(change.recovered)]}
        ledger_update = {
            "TableName": self._table,
            "Key": {"message": {"S": message_key}},
            "UpdateExpression": expression,
            "ConditionExpression": "attribute_not_exists(version) OR version = :v",
            "ExpressionAttributeValues": values,
        }
        deltas = {
            "rows_posted": len(change.posted),
            "rows_failed": len(change.failed) - len(change.recovered),
        }
        return [
            {"Update": ledger_update},
            {"Update": counter_update(job_id, self._jobs_table, deltas)},
        ]
