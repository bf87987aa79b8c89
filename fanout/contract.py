"""The work message the splitter sends and the worker reads, and the keys derived from it."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any, TypedDict

from fanout.errors import PermanentError

MESSAGE_FORMAT_VERSION = 1


class RowFailure(TypedDict, total=False):
    """Why a row could not be posted, as the DLQ shows it."""

    status: int | None
    error: str
    excerpt: str
    attempts: int
    at: str


@dataclass(frozen=True)
class Row:
    number: int
    values: tuple[str, ...]


@dataclass(frozen=True)
class RequestRef:
    """The request spec a job's rows are sent with: one object version, pinned for the job's life."""

    bucket: str
    key: str
    version: str  # the S3 VersionId ("" where the bucket keeps none)

    def to_json(self) -> list[str]:
        return [self.bucket, self.key, self.version]

    @classmethod
    def from_json(cls, value: Any) -> RequestRef:
        bucket, key, version = value
        return cls(str(bucket), str(key), str(version))

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}" + (f" (version {self.version})" if self.version else "")


@dataclass(frozen=True)
class WorkMessage:
    """A group of rows of one job; `seq` numbers the messages of a job from 1."""

    job_id: str
    seq: int
    columns: tuple[str, ...]
    rows: tuple[Row, ...]
    failures: dict[int, RowFailure] = field(default_factory=dict)
    request: RequestRef | None = None  # None: the default request
    # The body as the splitter already encoded it (each row is encoded once, for its size).
    encoded: str | None = field(default=None, compare=False, repr=False)

    @property
    def key(self) -> str:
        """Stable across redelivery and redrive: the ledger's key for this message."""
        return f"{self.job_id}#{self.seq}"

    def to_body(self) -> str:
        if self.encoded is not None:
            return self.encoded
        rows = [row_json(r) for r in self.rows]
        return message_body(self.job_id, self.seq, self.columns, rows, self.failures, self.request)

    @classmethod
    def from_body(cls, body: str) -> WorkMessage:
        try:
            data = json.loads(body)
            if data.get("v") != MESSAGE_FORMAT_VERSION:
                raise PermanentError(f"unknown message format version {data.get('v')!r}")
            columns = tuple(str(c) for c in data["cols"])
            rows = tuple(Row(int(n), tuple(str(v) for v in values)) for n, values in data["rows"])
            failures = {int(n): f for n, f in data.get("failures", {}).items()}
            request = RequestRef.from_json(data["req"]) if "req" in data else None
            return cls(str(data["job"]), int(data["seq"]), columns, rows, failures, request)
        except PermanentError:
            raise
        except (ValueError, KeyError, TypeError) as exc:
            raise PermanentError(f"malformed work message: {exc}") from exc

    def with_rows(self, numbers: set[int], failures: dict[int, RowFailure]) -> WorkMessage:
        """The same message narrowed to some of its rows, carrying why they failed."""
        rows = tuple(row for row in self.rows if row.number in numbers)
        return WorkMessage(self.job_id, self.seq, self.columns, rows, failures, self.request)


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def row_json(row: Row) -> str:
    """One row as it stands in a message body."""
    return _compact([row.number, list(row.values)])


def message_body(
    job_id: str,
    seq: int,
    columns: tuple[str, ...],
    row_jsons: list[str],
    failures: dict[int, RowFailure] | None = None,
    request: RequestRef | None = None,
) -> str:
    """A message body from rows already encoded with row_json."""
    fields: dict[str, Any] = {"v": MESSAGE_FORMAT_VERSION, "job": job_id, "seq": seq, "cols": list(columns)}
    if request is not None:
        fields["req"] = request.to_json()
    head = _compact(fields)
    body = head[:-1] + ',"rows":[' + ",".join(row_jsons) + "]"
    if failures:
        body += ',"failures":' + _compact({str(n): f for n, f in failures.items()})
    return body + "}"


def encoded_size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8"))


def idempotency_key(job_id: str, row_number: int) -> str:
    """The same for the same row of the same file on every attempt, redelivery and redrive."""
    return f"{job_id}:{row_number}"


# Columns named with this prefix are Fanout's own annotations (the reason columns of a DLQ
# export), never posted: a fixed export can be dropped again as it is.
ANNOTATION_PREFIX = "_fanout_"


_SLUG = re.compile(r"[^A-Za-z0-9]+")


def job_id_for(bucket: str, key: str, version: str) -> str:
    """One job per object version: readable from the file name, unique by the version."""
    stem = key.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    slug = _SLUG.sub("-", stem).strip("-")[:40] or "job"
    digest = hashlib.sha256(f"{bucket}\0{key}\0{version}".encode()).hexdigest()[:12]
    return f"{slug}-{digest}"
