"""A job's result parts, rejects and earlier results combined into results/<job>.csv, in row order.

Each part is sorted by row number, so the combined file is a k-way merge (heapq) of streamed
objects, written as a multipart upload: memory holds one read buffer per open stream and one
upload part, whatever the job's size. At most MAX_OPEN_STREAMS objects are open at once; with
more parts than that, earlier passes merge them in groups into objects under
results/<job>/merge/. For each row the record kept is the one the ledger confirms with the
highest version (fanout/results.py); a row no part speaks of keeps what the previous combine
wrote (a redrive only writes parts for the rows it settles), and a rejected record its reason.
Combined parts are deleted; a part no ledger item names is left while its writer might still
commit it, and deleted once it cannot.
"""

from __future__ import annotations

import csv
import heapq
import io
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fanout.jobs import SPLIT_STOPPED, Job
from fanout.limits import DYNAMODB_BATCH_GET_MAX_KEYS, LAMBDA_MAX_TIMEOUT_S
from fanout.results import (
    CANCELLED,
    MODE_FAILURES,
    MODE_NONE,
    PART_COLUMNS,
    POSTED,
    REJECTED,
    REJECTS_PREFIX,
    RESULT_COLUMNS,
    check_mode,
    merge_prefix,
    parts_prefix,
    rejects_key,
    results_key,
)
from fanout.s3_objects import MultipartWriter, delete_objects, list_objects, open_text

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

# Objects read at once by one merge: each holds a read buffer (fanout/s3_objects.py), so memory
# is about this many buffers, plus one upload part, for any number of rows. 128 merges the
# ~7,000 parts of a million rows (1,000-row invocations, a part a second) in two passes.
MAX_OPEN_STREAMS = 128
# Text gathered before it goes to the upload (which sends it in parts of 5 MiB). Python's
# StringIO may hold 4 bytes a character, and the text is encoded once more: kept small.
WRITE_BUFFER_CHARS = 256 * 1024
# A part no ledger item names is an orphan once its writer cannot still be running: no
# invocation outlives the Lambda timeout.
ORPHAN_AGE_S = LAMBDA_MAX_TIMEOUT_S
# Ledger items read ahead at a time: a part's messages are mostly next to each other in row order.
LEDGER_READ_AHEAD = DYNAMODB_BATCH_GET_MAX_KEYS

# Ranks of the sources of a row's record: the highest wins, then the highest ledger version.
# A stopped split's rows it never sent outrank the earlier file (a later stop's reason wins).
_REJECTED, _EARLIER, _UNSPLIT, _SETTLED = 0, 1, 2, 3
_FIXED = len(RESULT_COLUMNS)


# (row number, rank, ledger version, message seq, cells: the public columns, then the captured
# values in the merge's order). Plain tuples: the merge compares them without a key function.
_Entry = tuple[int, int, int, int, tuple[str, ...]]


@dataclass(frozen=True)
class _Source:
    key: str
    kind: str  # part, merged, earlier, rejects, rejects-parts (a stopped split's), unsplit


class ResultsCombiner:
    def __init__(self, s3: S3Client, dynamodb: DynamoDBClient, ledger_table: str, mode: str) -> None:
        self._s3 = s3
        self._db = dynamodb
        self._ledger_table = ledger_table
        self.mode = check_mode(mode)

    def combine(self, job: Job) -> str | None:
        """Writes results/<job>.csv from everything written so far; its key (None: mode none)."""
        if self.mode == MODE_NONE:
            return None
        run = _Combine(self, job)
        return run.combine()

    # Used by _Combine (one per call, for its caches).
    @property
    def s3(self) -> S3Client:
        return self._s3

    def ledger_parts(self, job_id: str, seqs: list[int]) -> dict[int, frozenset[str]]:
        """The part ids each message's ledger item names (none for a message never written)."""
        keys = [f"{job_id}#{seq}" for seq in seqs]
        found: dict[int, frozenset[str]] = {seq: frozenset() for seq in seqs}
        request: Any = {
            self._ledger_table: {
                "Keys": [{"message": {"S": k}} for k in keys],
                "ConsistentRead": True,
                "ProjectionExpression": "#m, #p",
                "ExpressionAttributeNames": {"#m": "message", "#p": "parts"},
            }
        }
        while request:
            response = self._db.batch_get_item(RequestItems=request)
            for item in response.get("Responses", {}).get(self._ledger_table, []):
                seq = int(item["message"]["S"].rsplit("#", 1)[1])
                found[seq] = frozenset(item.get("parts", {}).get("SS", []))
            request = response.get("UnprocessedKeys") or None
        return found


class _Combine:
    def __init__(self, combiner: ResultsCombiner, job: Job) -> None:
        self._c = combiner
        self._s3 = combiner.s3
        self._job = job
        self._bucket = job.bucket
        self._confirmed: dict[int, frozenset[str]] = {}
        self._merged_keys: list[str] = []

    def combine(self) -> str:
        # Key and age of each part only: the listing's dictionaries are ten times the size.
        listed = [
            (obj["Key"], obj["LastModified"].timestamp())
            for obj in list_objects(self._s3, self._bucket, parts_prefix(self._job.job_id))
        ]
        part_keys = sorted(key for key, _ in listed)
        sources = [_Source(key, "part") for key in part_keys]
        generation = 0
        while len(sources) > MAX_OPEN_STREAMS - 2:  # room for the earlier results and the rejects
            generation += 1
            sources = [
                self._merge_group(sources[start : start + MAX_OPEN_STREAMS], generation, number)
                for number, start in enumerate(range(0, len(sources), MAX_OPEN_STREAMS))
            ]
        target = results_key(self._job.job_id)
        if any(obj["Key"] == target for obj in list_objects(self._s3, self._bucket, target)):
            sources.append(_Source(target, "earlier"))
        stopped = self._job.split_state == SPLIT_STOPPED
        if self._job.rows_rejected:  # the splitter wrote them before it recorded the split
            if stopped:  # not combined until a resumed split finishes: its parts, in file order
                sources.append(_Source(f"{REJECTS_PREFIX}{self._job.job_id}/", "rejects-parts"))
            else:
                sources.append(_Source(rejects_key(self._job.job_id), "rejects"))
        if stopped and self._job.rows_unsplit:
            sources.append(_Source("", "unsplit"))
        self._write(sources, target, public=True)
        self._clean_up(listed)
        return target

    def _merge_group(self, group: list[_Source], generation: int, number: int) -> _Source:
        key = f"{merge_prefix(self._job.job_id)}{generation:03d}-{number:06d}.csv"
        self._write(group, key, public=False)
        self._merged_keys.append(key)
        return _Source(key, "merged")

    def _write(self, sources: list[_Source], key: str, public: bool) -> None:
        readers = [(source, self._open(source)) for source in sources]
        try:
            capture_names = _union(names for _, (_, names) in readers)
            streams = [self._entries(source, rows, names, capture_names) for source, (rows, names) in readers]
            header = [*RESULT_COLUMNS, *capture_names]
            if not public:
                header[1:1] = PART_COLUMNS
            skip_posted = public and self._c.mode == MODE_FAILURES
            with MultipartWriter(self._s3, self._bucket, key) as out:
                buffer = io.StringIO()
                writer = csv.writer(buffer)
                writer.writerow(header)

                def emit(entry: _Entry) -> None:
                    cells = entry[4]
                    if skip_posted and cells[1] == POSTED:
                        return
                    writer.writerow(cells if public else (cells[0], entry[3], entry[2], *cells[1:]))
                    if buffer.tell() >= WRITE_BUFFER_CHARS:
                        out.write(buffer.getvalue().encode("utf-8"))
                        buffer.seek(0)
                        buffer.truncate()

                # Entries sort by (row, rank, version): a row's last entry is the one it keeps.
                previous: _Entry | None = None
                for entry in heapq.merge(*streams):
                    if previous is not None and entry[0] != previous[0]:
                        emit(previous)
                    previous = entry
                if previous is not None:
                    emit(previous)
                out.write(buffer.getvalue().encode("utf-8"))
        finally:
            for _, (rows, _) in readers:
                rows.close()

    def _entries(
        self, source: _Source, rows: _Rows, names: tuple[str, ...], capture_names: tuple[str, ...]
    ) -> Iterator[_Entry]:
        position = {name: i for i, name in enumerate(names)}
        spread = [position.get(name) for name in capture_names]
        same = names == capture_names

        def captured(values: list[str]) -> tuple[str, ...]:
            if same:
                return tuple(values)
            return tuple("" if i is None or i >= len(values) else values[i] for i in spread)

        if source.kind == "unsplit":
            reason = f"not sent: its job was {self._job.control} ({self._job.control_reason})"
            first = (self._job.rows_total or 0) - self._job.rows_unsplit + 1
            for n in range(first, first + self._job.rows_unsplit):
                yield (n, _UNSPLIT, 0, 0, (str(n), CANCELLED, "", "0", "", reason, *captured([])))
            return
        if source.kind in ("rejects", "rejects-parts"):
            for number, reason, *_ in rows:
                yield (int(number), _REJECTED, 0, 0, (number, REJECTED, "", "0", "", reason, *captured([])))
            return
        if source.kind == "earlier":
            for cells in rows:
                yield (int(cells[0]), _EARLIER, 0, 0, (*cells[:_FIXED], *captured(cells[_FIXED:])))
            return
        part_id = _part_id(source.key)
        confirm = source.kind == "part"
        for number, seq, version, *rest in rows:
            if confirm and part_id not in self._parts_of(int(seq)):
                continue  # its transaction never committed
            settled = (number, *rest[: _FIXED - 1], *captured(rest[_FIXED - 1 :]))
            yield (int(number), _SETTLED, int(version), int(seq), settled)

    def _open(self, source: _Source) -> tuple[_Rows, tuple[str, ...]]:
        """The source's records and the captured columns it names."""
        if source.kind == "unsplit":
            return _Rows(iter(())), ()  # made up from the job record: nothing to read
        if source.kind == "rejects-parts":
            keys = sorted(obj["Key"] for obj in list_objects(self._s3, self._bucket, source.key))
            records = _concatenated(self._s3, self._bucket, keys)
            return _Rows(records, records.close), ()
        return _open(self._s3, self._bucket, source.key)

    def _parts_of(self, seq: int) -> frozenset[str]:
        if seq not in self._confirmed:
            ahead = [s for s in range(seq, seq + LEDGER_READ_AHEAD) if s not in self._confirmed]
            self._confirmed.update(self._c.ledger_parts(self._job.job_id, ahead))
        return self._confirmed[seq]

    def _clean_up(self, listed: list[tuple[str, float]]) -> None:
        """Deletes what this combine took in, and orphans too old to be committed any more."""
        now = time.time()
        confirmed = set().union(*self._confirmed.values())
        done = []
        for key, modified in listed:
            if _part_id(key) in confirmed or now - modified > ORPHAN_AGE_S:
                done.append(key)
        delete_objects(self._s3, self._bucket, [*done, *self._merged_keys])


class _Rows:
    """Records read as they are consumed: a CSV object's after its header, or made otherwise."""

    def __init__(self, records: Iterator[list[str]], close: Callable[[], None] = lambda: None) -> None:
        self._records = records
        self._close = close

    @classmethod
    def of(cls, text: io.TextIOWrapper) -> _Rows:
        return cls(csv.reader(text), text.close)

    def __iter__(self) -> Iterator[list[str]]:
        return self._records

    def close(self) -> None:
        self._close()


def _concatenated(s3: S3Client, bucket: str, keys: list[str]) -> Generator[list[str]]:
    """The records of headerless objects one after the other, one open at a time."""
    for key in keys:
        text = open_text(s3, bucket, key)
        try:
            yield from csv.reader(text)
        finally:
            text.close()


def _open(s3: S3Client, bucket: str, key: str) -> tuple[_Rows, tuple[str, ...]]:
    """The object's records and the captured columns its header names."""
    rows = _Rows.of(open_text(s3, bucket, key))
    header = next(iter(rows), [])
    fixed = _FIXED + (len(PART_COLUMNS) if len(header) > 1 and header[1] == PART_COLUMNS[0] else 0)
    if header[:1] == ["row_number"] and header[1:2] == ["reason"]:
        fixed = len(header)  # the splitter's rejects (row_number, reason, excerpt, column): no captures
    return rows, tuple(header[fixed:])


def _union(groups: Iterator[tuple[str, ...]]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for names in groups:
        seen.update(dict.fromkeys(names))
    return tuple(seen)


def _part_id(key: str) -> str:
    return key.rsplit("/", 1)[1].removesuffix(".csv")
