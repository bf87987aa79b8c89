"""Result parts: what a ledger transaction settles, written to S3 just before the transaction.

One PUT per transaction (a flush about once a second, the settle, a redrive), never one per
row. The part is named in the transaction itself (Ledger adds its id to every message it
writes), so the combiner keeps exactly the parts whose transaction committed.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fanout.results import (
    CANCELLED,
    FAILED,
    MODE_ALL,
    MODE_FAILURES,
    MODE_NONE,
    POSTED,
    RowRecord,
    check_mode,
    encode_part,
    parts_prefix,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


@dataclass(frozen=True)
class PartRows:
    """The rows one transaction settles in one message, as the part records them."""

    seq: int
    version: int  # the message's ledger version once the transaction is written
    records: tuple[RowRecord, ...]


def wanted(mode: str, posted: Iterable[int], failed: Iterable[int], recovered: Iterable[int]) -> set[int]:
    """Rows the mode keeps a record of: all of them, or those not posted (and any now posted
    that had failed, whose record must replace the failure's)."""
    if mode == MODE_ALL:
        return {*posted, *failed}
    if mode == MODE_FAILURES:
        return {*failed, *recovered}
    return set()


def default_record(number: int, posted: bool, cancelled: bool = False) -> RowRecord:
    """A row settled without the worker's details (counted failed from the DLQ, say)."""
    if cancelled:
        return RowRecord(number, CANCELLED, reason="its job was cancelled or halted")
    return RowRecord(number, POSTED if posted else FAILED)


class ResultsLog:
    def __init__(self, s3: S3Client, bucket: str, mode: str) -> None:
        self._s3 = s3
        self._bucket = bucket
        self.mode = check_mode(mode)

    @property
    def enabled(self) -> bool:
        return self.mode != MODE_NONE

    def write(self, job_id: str, rows: list[PartRows]) -> str:
        """Writes one part of a job's rows; its id, for the ledger to name."""
        # Time first, so a listing shows parts roughly in the order they were written.
        part_id = f"{int(time.time() * 1000):013d}-{uuid.uuid4().hex[:12]}"
        body = encode_part((r.seq, r.version, record) for r in rows for record in r.records)
        self._s3.put_object(
            Bucket=self._bucket, Key=f"{parts_prefix(job_id)}{part_id}.csv", Body=body, ContentType="text/csv"
        )
        return part_id
