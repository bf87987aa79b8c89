"""Which rows of each message are already settled, kept across redeliveries and redrives.

SQS delivers at least once and a partly failed message comes back whole; the ledger lets a
worker post only the rows still open. The job's counters move in the same transaction as the
ledger, so counts stay exact even when two workers hold the same message at once. One
transaction covers all the messages of an invocation, so the job's counter item (which every
worker updates) takes one write per invocation and flush, not one per message.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from fanout.backoff import backoff_delay
from fanout.errors import RetryableError
from fanout.jobs import COUNTERS, counter_update
from fanout.limits import DYNAMODB_BATCH_GET_MAX_KEYS, DYNAMODB_TRANSACT_MAX_ITEMS
from fanout.results import RowRecord
from worker.results_log import PartRows, ResultsLog, default_record, wanted

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# Transactions that lose a race (another worker wrote one of the items first) are read again
# and retried this many times, with jittered backoff so racing workers spread apart.
RECORD_ATTEMPTS = 8
RECORD_BACKOFF_BASE_S = 0.05
RECORD_BACKOFF_CAP_S = 2.0
# Ledger records outlive any redrive a user would do (14 days, the SQS maximum retention).
RETENTION_S = 14 * 24 * 3600
# Room in one transaction for the job counter updates next to the message updates.
MESSAGES_PER_TRANSACTION = DYNAMODB_TRANSACT_MAX_ITEMS - 10
# Error codes that mean "lost a race or a passing fault: read again and retry".
_RACE_CODES = frozenset(
    {
        "TransactionCanceledException",
        "TransactionConflictException",
        "TransactionInProgressException",
        "InternalServerError",
        "InternalFailure",
        "ServiceUnavailable",
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
    }
)


@dataclass(frozen=True)
class Settled:
    posted: frozenset[int]
    failed: frozenset[int]
    version: int
    # Not posted because the job was stopped: held for a resume (fanout/jobs.py), open again then.
    cancelled: frozenset[int] = frozenset()

    def after(self, change: Change, written: bool) -> Settled:
        """The item once `change` is written (`written`: the transaction wrote this item)."""
        if not written:
            return self
        return Settled(
            self.posted | change.posted,
            (self.failed | change.failed) - change.recovered,
            self.version + 1,
            (self.cancelled | change.cancelled) - change.uncancelled,
        )


EMPTY = Settled(frozenset(), frozenset(), 0)


@dataclass(frozen=True)
class Outcome:
    """Rows of one message to mark: posted, failed (in the DLQ with their reason), or cancelled
    (held for a resume, the job being stopped)."""

    message_key: str
    job_id: str
    posted: frozenset[int]
    failed: frozenset[int] = frozenset()
    throttled: int = 0  # calls answered 429/503, added to the job's count as they happen
    cancelled: frozenset[int] = frozenset()
    failing: int = 0  # rows seen ending failed, for the failure threshold (fanout/thresholds.py)
    # What the results file says of each row (status, attempts, ...), where the caller knows it.
    records: Mapping[int, RowRecord] = field(default_factory=dict, compare=False)

    @property
    def seq(self) -> int:
        return int(self.message_key.rsplit("#", 1)[1])


@dataclass(frozen=True)
class Change:
    """What recording changed: rows newly posted, failed or cancelled; failed rows now posted;
    cancelled rows now posted or failed.

    `refailed`: failed rows that failed again (a redrive); they change no count, only the reason
    the results file gives.
    """

    posted: frozenset[int]
    failed: frozenset[int]
    recovered: frozenset[int]
    refailed: frozenset[int] = frozenset()
    cancelled: frozenset[int] = frozenset()
    uncancelled: frozenset[int] = frozenset()

    @classmethod
    def of(cls, outcome: Outcome, before: Settled) -> Change:
        posted = outcome.posted - before.posted
        failed = outcome.failed - before.posted - before.failed - outcome.posted
        ended = before.posted | before.failed | before.cancelled | outcome.posted | outcome.failed
        return cls(
            posted=frozenset(posted),
            failed=frozenset(failed),
            recovered=frozenset(posted & before.failed),
            refailed=frozenset((outcome.failed & before.failed) - outcome.posted),
            cancelled=frozenset(outcome.cancelled - ended),
            uncancelled=frozenset((posted | failed) & before.cancelled),
        )

    def __bool__(self) -> bool:
        return bool(self.posted or self.failed or self.cancelled)


def _numbers(item: dict[str, Any], name: str) -> frozenset[int]:
    return frozenset(int(n) for n in item.get(name, {}).get("NS", []))


def _settled(item: dict[str, Any]) -> Settled:
    version = int(item.get("version", {}).get("N", "0"))
    return Settled(_numbers(item, "posted"), _numbers(item, "failed"), version, _numbers(item, "cancelled"))


class JobNotStopped(RetryableError):
    """Rows were to be recorded cancelled, but their job has been resumed meanwhile."""

    def __init__(self, job_ids: frozenset[str]) -> None:
        super().__init__(f"jobs resumed while their rows were being cancelled: {', '.join(sorted(job_ids))}")
        self.job_ids = job_ids


def _failed_conditions(exc: ClientError) -> set[int]:
    """Which actions of a cancelled transaction failed their condition."""
    reasons: Any = exc.response.get("CancellationReasons", [])
    return {i for i, reason in enumerate(reasons) if reason.get("Code") == "ConditionalCheckFailed"}


def _is_race(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code", "") in _RACE_CODES or (
        exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500
    )


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Ledger:
    def __init__(
        self,
        dynamodb: DynamoDBClient,
        table: str,
        jobs_table: str,
        sleep: Callable[[float], None] = time.sleep,
        results: ResultsLog | None = None,
    ) -> None:
        """`results`: where the rows each transaction settles are written (None: nowhere)."""
        self._db = dynamodb
        self._table = table
        self._jobs_table = jobs_table
        self._sleep = sleep
        self._results = results if results is not None and results.enabled else None

    def settled(self, message_key: str) -> Settled:
        return self.settled_many([message_key])[message_key]

    def settled_many(self, message_keys: Iterable[str]) -> dict[str, Settled]:
        """Every message's settled rows in as few reads as DynamoDB allows (100 keys a call)."""
        keys = sorted(set(message_keys))
        found: dict[str, Settled] = {key: EMPTY for key in keys}
        for chunk in _chunks(keys, DYNAMODB_BATCH_GET_MAX_KEYS):
            request: Any = {
                self._table: {"Keys": [{"message": {"S": k}} for k in chunk], "ConsistentRead": True}
            }
            while request:
                response = self._db.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self._table, []):
                    found[item["message"]["S"]] = _settled(item)
                request = response.get("UnprocessedKeys") or None
        return found

    def record(self, outcomes: list[Outcome], known: dict[str, Settled] | None = None) -> dict[str, Change]:
        """Marks rows posted or failed; posted rows that had failed before count as recovered.

        `known`: the items as this invocation last read or wrote them, kept up to date here. With
        every item in it, the transaction is tried without reading them first; the version
        condition catches anyone else's write, and then they are read as usual.
        """
        changes: dict[str, Change] = {}
        for chunk in _chunks(
            [o for o in outcomes if o.posted or o.failed or o.cancelled or o.throttled or o.failing],
            MESSAGES_PER_TRANSACTION,
        ):
            changes.update(self._record_chunk(chunk, {} if known is None else known))
        return changes

    def _record_chunk(self, outcomes: list[Outcome], known: dict[str, Settled]) -> dict[str, Change]:
        keys = [o.message_key for o in outcomes]
        for attempt in range(1, RECORD_ATTEMPTS + 1):
            if attempt == 1 and all(key in known for key in keys):
                before = {key: known[key] for key in keys}
            else:
                before = self.settled_many(keys)
            changes = {o.message_key: Change.of(o, before[o.message_key]) for o in outcomes}
            # Written before the transaction, for exactly what it changes, and named by it: a
            # part whose transaction loses this race is named by no ledger item.
            parts = self._write_parts(outcomes, before, changes)
            actions, guarded = self._actions(outcomes, before, changes, parts)
            if not actions:
                return changes
            try:
                self._db.transact_write_items(TransactItems=actions)
            except ClientError as exc:
                resumed = frozenset(guarded[i] for i in _failed_conditions(exc) if i in guarded)
                if resumed:
                    raise JobNotStopped(resumed) from exc
                if not _is_race(exc):
                    raise
                self._sleep(backoff_delay(attempt, RECORD_BACKOFF_BASE_S, RECORD_BACKOFF_CAP_S))
                continue
            known.update(
                (key, before[key].after(changes[key], bool(changes[key]) or key in parts)) for key in keys
            )
            return changes
        raise RetryableError(f"ledger of {len(outcomes)} messages kept changing under us")

    def _write_parts(
        self, outcomes: list[Outcome], before: dict[str, Settled], changes: dict[str, Change]
    ) -> dict[str, str]:
        """One part per job of the rows the mode records; the part's id for each message in it."""
        if self._results is None:
            return {}
        by_job: dict[str, list[tuple[str, PartRows]]] = {}
        for outcome in outcomes:
            change = changes[outcome.message_key]
            numbers = wanted(
                self._results.mode,
                change.posted,
                change.failed | change.refailed | change.cancelled,
                change.recovered | change.uncancelled,
            )
            if not numbers:
                continue
            records = tuple(
                outcome.records.get(n) or default_record(n, n in change.posted, n in change.cancelled)
                for n in sorted(numbers)
            )
            rows = PartRows(outcome.seq, before[outcome.message_key].version + 1, records)
            by_job.setdefault(outcome.job_id, []).append((outcome.message_key, rows))
        parts: dict[str, str] = {}
        for job_id, entries in by_job.items():
            part_id = self._results.write(job_id, [rows for _, rows in entries])
            parts.update((key, part_id) for key, _ in entries)
        return parts

    def _actions(
        self,
        outcomes: list[Outcome],
        before: dict[str, Settled],
        changes: dict[str, Change],
        parts: dict[str, str],
    ) -> tuple[list[Any], dict[int, str]]:
        """The transaction, and which of its actions hold only while their job stays stopped."""
        actions: list[Any] = []
        deltas: dict[str, dict[str, int]] = {}
        cancelling: set[str] = set()
        for outcome in outcomes:
            change = changes[outcome.message_key]
            job = deltas.setdefault(outcome.job_id, dict.fromkeys(COUNTERS, 0))
            job["calls_throttled"] += outcome.throttled
            job["rows_failing"] += outcome.failing
            part = parts.get(outcome.message_key)
            if not change and part is None:
                continue
            actions.append(
                {"Update": self._ledger_update(outcome, before[outcome.message_key], change, part)}
            )
            job["rows_posted"] += len(change.posted)
            job["rows_failed"] += len(change.failed) - len(change.recovered)
            job["result_parts"] = 1 if part is not None else job["result_parts"]  # one part a job
            job["rows_cancelled"] += len(change.cancelled) - len(change.uncancelled)
            if change.cancelled:
                cancelling.add(outcome.job_id)
        guarded: dict[int, str] = {}
        for job_id, delta in deltas.items():
            if any(delta.values()):
                update = counter_update(job_id, self._jobs_table, delta)
                if job_id in cancelling:
                    # A resume between our reading the stop and this write must not leave rows
                    # cancelled in a running job: nothing would ever post them.
                    update["ConditionExpression"] = "attribute_exists(control)"
                    guarded[len(actions)] = job_id
                actions.append({"Update": update})
        return actions, guarded

    def _ledger_update(
        self, outcome: Outcome, before: Settled, change: Change, part: str | None
    ) -> dict[str, Any]:
        adds = []
        values: dict[str, Any] = {
            ":v": {"N": str(before.version)},
            ":next": {"N": str(before.version + 1)},
            ":job": {"S": outcome.job_id},
            ":expires": {"N": str(int(time.time()) + RETENTION_S)},
        }
        if change.posted:
            adds.append("posted :p")
            values[":p"] = {"NS": [str(n) for n in sorted(change.posted)]}
        if change.failed:
            adds.append("failed :f")
            values[":f"] = {"NS": [str(n) for n in sorted(change.failed)]}
        if part is not None:
            adds.append("parts :part")
            values[":part"] = {"SS": [part]}
        if change.cancelled:
            adds.append("cancelled :c")
            values[":c"] = {"NS": [str(n) for n in sorted(change.cancelled)]}
        expression = "SET version = :next, job_id = :job, expires_at = :expires"
        if adds:
            expression += " ADD " + ", ".join(adds)
        deletes = []
        if change.recovered:
            deletes.append("failed :r")
            values[":r"] = {"NS": [str(n) for n in sorted(change.recovered)]}
        if change.uncancelled:
            deletes.append("cancelled :u")
            values[":u"] = {"NS": [str(n) for n in sorted(change.uncancelled)]}
        if deletes:
            expression += " DELETE " + ", ".join(deletes)
        return {
            "TableName": self._table,
            "Key": {"message": {"S": outcome.message_key}},
            "UpdateExpression": expression,
            "ConditionExpression": "attribute_not_exists(version) OR version = :v",
            "ExpressionAttributeValues": values,
        }
