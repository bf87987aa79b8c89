"""The failure threshold: when a job fails too much, it halts instead of hammering the API.

The stack's parameters (ToleratedFailurePercent, ToleratedFailureMinRows) give the defaults; S3
object metadata (`x-amz-meta-fanout-tolerated-failure-percent` and `-min-rows`, which
`fanout run` and `fanout drop` set from their flags) overrides them for one file. The splitter
writes the file's threshold into its job record; the workers judge it there.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from fanout.errors import InputError
from fanout.formats import METADATA_PREFIX

PERCENT_METADATA = METADATA_PREFIX + "tolerated-failure-percent"
MIN_ROWS_METADATA = METADATA_PREFIX + "tolerated-failure-min-rows"
MAX_MIN_ROWS = 1_000_000_000


def parse_percent(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"tolerated failure percent {text!r} is not a number") from None
    if not 0 <= value <= 100 or math.isnan(value):
        raise InputError(f"tolerated failure percent {value:g} is outside 0..100")
    return value


def parse_min_rows(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise InputError(f"tolerated failure minimum rows {text!r} is not a whole number") from None
    if not 1 <= value <= MAX_MIN_ROWS:
        raise InputError(f"tolerated failure minimum rows {value} is outside 1..{MAX_MIN_ROWS}")
    return value


@dataclass(frozen=True)
class FailureThreshold:
    """Halt once at least `min_rows` rows have an outcome and more than `percent` of them failed."""

    percent: float
    min_rows: int

    def breach(self, posted: int, failed: int) -> str | None:
        """Why the job halts at these counts, or None while it is within the threshold."""
        seen = posted + failed
        if seen < self.min_rows or failed * 100 <= self.percent * seen:
            return None
        share = failed * 100 / seen
        return f"{failed} of {seen} rows failed: {share:.0f}% > {self.percent:g}%"

    def overridden_by(self, metadata: Mapping[str, str]) -> FailureThreshold:
        """This threshold with a file's `fanout-tolerated-failure-*` metadata applied."""
        changed = self
        if PERCENT_METADATA in metadata:
            changed = replace(changed, percent=parse_percent(metadata[PERCENT_METADATA]))
        if MIN_ROWS_METADATA in metadata:
            changed = replace(changed, min_rows=parse_min_rows(metadata[MIN_ROWS_METADATA]))
        return changed

    def as_item(self) -> dict[str, Any]:
        return {
            "tolerated_failure_percent": {"N": repr(self.percent)},
            "tolerated_failure_min_rows": {"N": str(self.min_rows)},
        }

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> FailureThreshold | None:
        if "tolerated_failure_percent" not in item:
            return None  # a job recorded before thresholds existed: it never halts
        return cls(
            float(item["tolerated_failure_percent"]["N"]), int(item["tolerated_failure_min_rows"]["N"])
        )
