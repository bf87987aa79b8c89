"""A job's combined results file, read from its stack and written out as CSV or JSON lines."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TextIO

from fanout.errors import InputError
from fanout.jobs import Job
from fanout.results import MODE_NONE, POSTED, RESULT_COLUMNS
from fanout.s3_objects import open_text

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

FORMATS = ("csv", "jsonl")
_NUMBERS = {"row_number": int, "http_status": int, "attempts": int, "latency_ms": float}


def check_has_results(job: Job, mode: str) -> None:
    """InputError (one line) if the job has no combined results file to read."""
    if job.results_key:
        return
    if mode == MODE_NONE:
        raise InputError("this stack writes no results files (its ResultsMode is none)")
    settled = f"{job.rows_settled} of {'?' if job.rows_total is None else job.rows_total} rows settled"
    raise InputError(f"job {job.job_id} has no results yet: it is {job.state} ({settled})")


def read_results(s3: S3Client, job: Job) -> tuple[list[str], Iterator[list[str]]]:
    """The header and the records of the job's results file, streamed."""
    text = open_text(s3, job.bucket, job.results_key)
    reader = csv.reader(text)
    header = next(reader, list(RESULT_COLUMNS))

    def records() -> Iterator[list[str]]:
        try:
            yield from reader
        finally:
            text.close()

    return header, records()


def write_results(
    header: list[str], records: Iterator[list[str]], out: TextIO, fmt: str, failed_only: bool
) -> int:
    """Writes the records (only those not posted, with `failed_only`); how many it wrote."""
    outcome = header.index("outcome")
    writer = csv.writer(out) if fmt == "csv" else None
    if writer is not None:
        writer.writerow(header)
    written = 0
    for cells in records:
        if failed_only and cells[outcome] == POSTED:
            continue
        if writer is not None:
            writer.writerow(cells)
        else:
            out.write(json.dumps(_typed(header, cells), ensure_ascii=False) + "\n")
        written += 1
    return written


def _typed(header: list[str], cells: list[str]) -> dict[str, Any]:
    """A record as JSON: numbers as numbers, an empty status or latency as null."""
    record: dict[str, Any] = dict(zip(header, cells, strict=False))
    for name, kind in _NUMBERS.items():
        value = record.get(name)
        if value is not None:
            record[name] = kind(value) if value != "" else None
    return record
