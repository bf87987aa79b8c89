"""Rows grouped into work messages, and messages into SendMessageBatch calls, within SQS limits."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from fanout.contract import RequestRef, Row, WorkMessage, encoded_size, message_body, row_json
from fanout.limits import SQS_SEND_BATCH_MAX_BYTES, SQS_SEND_BATCH_MAX_ENTRIES

# Headroom under the queue's limit: message attributes and the JSON of a large sequence number.
MESSAGE_SIZE_MARGIN_BYTES = 1024


@dataclass(frozen=True)
class Oversized:
    """A row that cannot fit in one message even on its own."""

    row: Row
    size: int
    limit: int

    @property
    def reason(self) -> str:
        return f"row too large for one message ({self.size} bytes, limit {self.limit})"


class MessageBuilder:
    """Packs rows into messages of at most `rows_per_message` rows and `max_bytes` bytes."""

    def __init__(
        self,
        job_id: str,
        columns: tuple[str, ...],
        rows_per_message: int,
        max_bytes: int,
        first_seq: int = 1,
        request: RequestRef | None = None,
    ) -> None:
        self._job_id = job_id
        self._request = request
        self._columns = columns
        self._rows_per_message = rows_per_message
        self._limit = max_bytes - MESSAGE_SIZE_MARGIN_BYTES
        self._overhead = encoded_size(WorkMessage(job_id, 0, columns, (), request=request).to_body())
        self._next_seq = first_seq
        self._rows: list[Row] = []
        self._encoded: list[str] = []
        self._size = self._overhead

    @property
    def next_seq(self) -> int:
        return self._next_seq

    @property
    def empty(self) -> bool:
        """No rows in the message being filled: the next row starts a message."""
        return not self._rows

    def limit_rows(self, rows_per_message: int) -> None:
        """Rows for the message being filled and the next ones."""
        self._rows_per_message = rows_per_message

    def add(self, row: Row) -> Iterator[WorkMessage | Oversized]:
        """Yields the message this row completes, if any, or the row itself if it cannot fit."""
        encoded = row_json(row)
        size = encoded_size(encoded) + 1  # the comma between rows
        if self._overhead + size > self._limit:
            yield Oversized(row, self._overhead + size, self._limit)
            return
        if self._rows and self._size + size > self._limit:
            yield self._take()
        self._rows.append(row)
        self._encoded.append(encoded)
        self._size += size
        if len(self._rows) >= self._rows_per_message:
            yield self._take()

    def flush(self) -> Iterator[WorkMessage]:
        if self._rows:
            yield self._take()

    def _take(self) -> WorkMessage:
        seq, rows = self._next_seq, tuple(self._rows)
        body = message_body(self._job_id, seq, self._columns, self._encoded, request=self._request)
        message = WorkMessage(self._job_id, seq, self._columns, rows, request=self._request, encoded=body)
        self._next_seq += 1
        self._rows, self._encoded = [], []
        self._size = self._overhead
        return message


def send_batches(
    messages: Iterable[tuple[str, str]], max_message_bytes: int
) -> Iterator[list[tuple[str, str]]]:
    """Groups (id, body) pairs into SendMessageBatch calls: 10 entries, bounded total bytes."""
    limit = min(SQS_SEND_BATCH_MAX_BYTES, max_message_bytes)
    batch: list[tuple[str, str]] = []
    total = 0
    for entry in messages:
        size = encoded_size(entry[1])
        if batch and (len(batch) >= SQS_SEND_BATCH_MAX_ENTRIES or total + size > limit):
            yield batch
            batch, total = [], 0
        batch.append(entry)
        total += size
    if batch:
        yield batch
