"""Every row's outcome: the records of the results file, the parts they are written in, and where.

Workers write a part (results/<job>/parts/<id>.csv) with each ledger transaction, before it, for
exactly the rows that transaction changes, and the transaction adds the part's id to each message
it writes (the ledger item's `parts`). A part whose transaction never committed (the invocation
died, or lost a race and tried again with another part) is named by no ledger item, so the
combiner (fanout/results_combine.py) leaves it out; of the records the ledger confirms for a row,
the one written with the message's highest ledger version is its last word.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from fanout.errors import ConfigError

# Every outcome a row can end in, in one place.
POSTED = "posted"
FAILED = "failed"
REJECTED = "rejected"
# Not posted because its job was cancelled or halted (fanout/jobs.py); a resume posts it.
CANCELLED = "cancelled"
OUTCOMES = (POSTED, FAILED, REJECTED, CANCELLED)

# Template parameter ResultsMode: what the workers write.
MODE_ALL = "all"
MODE_FAILURES = "failures"  # the rows that did not get posted
MODE_NONE = "none"
RESULTS_MODES = (MODE_ALL, MODE_FAILURES, MODE_NONE)

RESULTS_PREFIX = "results/"
# The splitter's rejected records (row_number, reason, excerpt), combined into the results too.
REJECTS_PREFIX = "rejects/"
RESULT_COLUMNS = ("row_number", "outcome", "http_status", "attempts", "latency_ms", "reason")
# A part's own columns before the public ones: which message the row is in, and the ledger
# version its write made; the combined file drops them.
PART_COLUMNS = ("_message", "_version")  # a captured column starts with a letter: never these


def results_key(job_id: str) -> str:
    return f"{RESULTS_PREFIX}{job_id}.csv"


def rejects_key(job_id: str) -> str:
    return f"{REJECTS_PREFIX}{job_id}.csv"


def parts_prefix(job_id: str) -> str:
    return f"{RESULTS_PREFIX}{job_id}/parts/"


def merge_prefix(job_id: str) -> str:
    """Where a combine that takes more than one pass keeps what its earlier passes merged."""
    return f"{RESULTS_PREFIX}{job_id}/merge/"


def check_mode(mode: str) -> str:
    if mode not in RESULTS_MODES:
        raise ConfigError(f"results mode {mode!r} is not one of {', '.join(RESULTS_MODES)}")
    return mode


@dataclass(frozen=True, slots=True)
class RowRecord:
    """One row's outcome as the results file shows it."""

    row_number: int
    outcome: str
    http_status: int | None = None
    attempts: int = 0
    latency_ms: float | None = None
    reason: str = ""
    captured: Mapping[str, str] = field(default_factory=dict)

    def cells(self) -> list[str]:
        return [
            str(self.row_number),
            self.outcome,
            "" if self.http_status is None else str(self.http_status),
            str(self.attempts),
            "" if self.latency_ms is None else f"{self.latency_ms:.1f}",
            self.reason,
        ]


def encode_part(records: Iterable[tuple[int, int, RowRecord]]) -> bytes:
    """A part: (message seq, ledger version, record) rows, sorted by row number, with a header
    naming the captured columns its records hold."""
    records = list(records)
    capture_names = tuple(dict.fromkeys(name for _, _, record in records for name in record.captured))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*RESULT_COLUMNS[:1], *PART_COLUMNS, *RESULT_COLUMNS[1:], *capture_names])
    for seq, version, record in sorted(records, key=lambda item: item[2].row_number):
        cells = record.cells()
        writer.writerow(
            [cells[0], seq, version, *cells[1:], *(record.captured.get(n, "") for n in capture_names)]
        )
    return out.getvalue().encode("utf-8")
