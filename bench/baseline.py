"""The simple approach a user would otherwise write: a thread pool that posts each row.

`requests.post` per row with the same number of calls in flight as Fanout gets, against the same
API, with the same body and Idempotency-Key; nothing durable, nothing retried.
"""

from __future__ import annotations

import csv
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import requests

TIMEOUT_S = 10.0


@dataclass(frozen=True)
class BaselineResult:
    rows: int
    posted: int
    duration_s: float


def post_file(path: Path, api_url: str, in_flight: int, limit: int | None = None) -> BaselineResult:
    """Posts the first `limit` rows (all if None) of the CSV at `path`."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = [row for n, row in enumerate(csv.DictReader(handle)) if limit is None or n < limit]

    def post(numbered: tuple[int, dict[str, str]]) -> bool:
        number, row = numbered
        response = requests.post(
            api_url, json=row, headers={"Idempotency-Key": f"baseline:{number}"}, timeout=TIMEOUT_S
        )
        return response.ok

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=in_flight, thread_name_prefix="baseline") as pool:
        posted = sum(pool.map(post, enumerate(rows, start=1)))
    return BaselineResult(len(rows), posted, time.monotonic() - started)
