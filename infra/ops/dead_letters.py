"""The dead-letter queue read as rows: what failed, for which job, and why.

Every row in the DLQ carries its reason. The worker sends refused and exhausted rows there
itself, with the reason; a message the redrive policy moved (its invocation kept dying) carries
none, so reading the DLQ first annotates such messages: their still-open rows (per the ledger)
are counted as failed and the message is replaced by one that says why.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fanout.contract import RowFailure, WorkMessage
from fanout.errors import PermanentError
from fanout.jobs import now_iso
from fanout.limits import SQS_DELETE_BATCH_MAX_ENTRIES, SQS_RECEIVE_MAX_MESSAGES
from fanout.queues import UNREADABLE_REASON_ATTRIBUTE, send_message_batch
from fanout.reports import JobReporter
from fanout.results import FAILED, RowRecord
from worker.ledger import Ledger, Outcome

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

# Messages read from the DLQ stay hidden this long while a command works through the queue.
HOLD_S = 120
# SQS may answer a receive with nothing while messages remain (it samples servers): this many
# empty answers in a row end a scan.
EMPTY_RECEIVES_TO_STOP = 2
POLICY_MOVED = "moved to the DLQ by the redrive policy"


@dataclass(frozen=True)
class DeadRow:
    job_id: str
    row_number: int
    values: dict[str, str]
    failure: RowFailure
    message_id: str

    @property
    def reason(self) -> str:
        return str(self.failure.get("error", "unknown"))


@dataclass(frozen=True)
class DeadMessage:
    message_id: str
    receipt_handle: str
    body: str
    message: WorkMessage | None
    receives: int = 0
    # Why a function sent a message it could not read (None for a work message) here.
    unreadable_reason: str = ""

    def rows(self) -> list[DeadRow]:
        if self.message is None:
            return []
        m = self.message
        return [
            DeadRow(
                m.job_id,
                row.number,
                dict(zip(m.columns, row.values, strict=True)),
                m.failures.get(row.number, {"error": POLICY_MOVED}),
                self.message_id,
            )
            for row in m.rows
        ]


class DeadLetters:
    def __init__(
        self, sqs: SQSClient, dlq_url: str, ledger: Ledger, reporter: JobReporter | None = None
    ) -> None:
        self._sqs = sqs
        self._url = dlq_url
        self._ledger = ledger
        self._reporter = reporter

    def receive_all(self, limit: int | None = None) -> list[DeadMessage]:
        """Every message (up to `limit`), hidden for HOLD_S; give them back with release()."""
        held: list[DeadMessage] = []
        empty = 0
        while empty < EMPTY_RECEIVES_TO_STOP and (limit is None or len(held) < limit):
            batch = self._sqs.receive_message(
                QueueUrl=self._url,
                MaxNumberOfMessages=SQS_RECEIVE_MAX_MESSAGES,
                VisibilityTimeout=HOLD_S,
                WaitTimeSeconds=1 if empty else 0,
                AttributeNames=["All"],
                MessageAttributeNames=[UNREADABLE_REASON_ATTRIBUTE],
            ).get("Messages", [])
            empty = 0 if batch else empty + 1
            held.extend(_dead(m) for m in batch)
        return held

    def scan(self) -> list[DeadMessage]:
        """Every message, annotated where it had no reason, and left in the queue."""
        self.annotate_moved()
        messages = self.receive_all()
        self.release(messages)
        return messages

    def annotate_moved(self) -> int:
        """Gives every message the redrive policy moved its reason; returns how many it replaced."""
        held, replaced = self.annotate_held()
        self.release(held)
        return replaced

    def annotate_held(self) -> tuple[list[DeadMessage], int]:
        """Reads the queue once, giving every message the redrive policy moved its reason: the
        messages that already had one (still hidden, for the caller to move or release), and how
        many were replaced (their replacements are in the queue, visible)."""
        held = self.receive_all()
        replaced = [m for m in held if m.message is not None and not m.message.failures]
        for dead in replaced:
            assert dead.message is not None
            self._replace(dead, dead.message)
        return [m for m in held if m not in replaced], len(replaced)

    def release(self, messages: list[DeadMessage]) -> None:
        for chunk in _chunks(messages):
            self._sqs.change_message_visibility_batch(
                QueueUrl=self._url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m.receipt_handle, "VisibilityTimeout": 0}
                    for i, m in enumerate(chunk)
                ],
            )

    def delete(self, messages: list[DeadMessage]) -> None:
        for chunk in _chunks(messages):
            self._sqs.delete_message_batch(
                QueueUrl=self._url,
                Entries=[{"Id": str(i), "ReceiptHandle": m.receipt_handle} for i, m in enumerate(chunk)],
            )

    def _replace(self, dead: DeadMessage, message: WorkMessage) -> None:
        """Counts a policy-moved message's open rows as failed; a message that says why replaces it.

        Sent before the original is deleted, so an interruption leaves a duplicate, never a loss.
        """
        settled = self._ledger.settled(message.key)
        open_rows = {r.number for r in message.rows} - settled.posted
        if open_rows:
            failure = RowFailure(
                status=None, error=POLICY_MOVED, excerpt="", attempts=dead.receives, at=now_iso()
            )
            annotated = message.with_rows(open_rows, {n: failure for n in open_rows})
            send_message_batch(self._sqs, self._url, [("0", annotated.to_body())])
            records = {n: RowRecord(n, FAILED, None, dead.receives, None, POLICY_MOVED) for n in open_rows}
            self._ledger.record(
                [Outcome(message.key, message.job_id, frozenset(), frozenset(open_rows), records=records)]
            )
            if self._reporter is not None:
                # Counting these rows can be what finishes the job: then it is reported here.
                self._reporter.report_if_finished(message.job_id)
        self.delete([dead])


def _dead(raw: Any) -> DeadMessage:
    try:
        message: WorkMessage | None = WorkMessage.from_body(raw["Body"])
    except PermanentError:
        message = None  # not ours: listed as unreadable, never redriven blindly
    receives = int(raw.get("Attributes", {}).get("ApproximateReceiveCount", "0"))
    reason = raw.get("MessageAttributes", {}).get(UNREADABLE_REASON_ATTRIBUTE, {}).get("StringValue", "")
    return DeadMessage(raw["MessageId"], raw["ReceiptHandle"], raw["Body"], message, receives, reason)


def _chunks(messages: list[DeadMessage]) -> Iterator[list[DeadMessage]]:
    for start in range(0, len(messages), SQS_DELETE_BATCH_MAX_ENTRIES):
        yield messages[start : start + SQS_DELETE_BATCH_MAX_ENTRIES]


def wait_s(rate: float | None, moved: int, started: float) -> float:
    """How long to wait before moving message number `moved` + 1 at `rate` messages a second."""
    if not rate:
        return 0.0
    return max(0.0, started + moved / rate - time.monotonic())
