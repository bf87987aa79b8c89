"""Splitting one CSV object into work messages, resumably, and recording the job.

The split checkpoints after every batch of sent messages (byte offset, next row and message
numbers, header) in the job record. An invocation close to its timeout stops at a checkpoint and
hands the rest to a fresh invocation, which goes on with a ranged GET (a gzip object is read
from its start again and skipped up to the checkpoint: splitter/source.py); a retried or duplicated
trigger for the same object version goes on from the checkpoint or does nothing. A lease in the
job record keeps two invocations from splitting the same job at once. Messages are numbered, so
a split repeated from an older checkpoint sends the same messages again, which the workers'
ledger then skips.
"""

from __future__ import annotations

import csv
import io
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fanout.cells import CellError
from fanout.contract import RequestRef, Row, WorkMessage, job_id_for
from fanout.errors import ConfigError, InputError, PermanentError
from fanout.formats import CsvFormat
from fanout.jobs import SPLITTING, Job, JobStore, SplitCheckpoint
from fanout.limits import SQS_SEND_BATCH_MAX_ENTRIES
from fanout.metrics import MetricsTarget
from fanout.queues import max_message_bytes, send_message_batch
from fanout.rendering import UNNAMED_ENDPOINT, RequestRenderer
from fanout.request_spec import RequestSpec
from fanout.request_store import RequestStore, requested
from fanout.results import REJECTS_PREFIX, rejects_key
from fanout.s3_objects import MultipartWriter, list_objects
from fanout.s3events import ObjectRef, object_version
from fanout.settings import SplitterSettings
from splitter.batching import MessageBuilder, Oversized, send_batches
from splitter.metrics import SplitProgress
from splitter.records import EXCERPT_CHARS, READ_CHUNK_BYTES, CsvRecords, Rejected, Resume
from splitter.rounds import EvenRounds
from splitter.source import ObjectBytes

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

log = logging.getLogger("fanout.splitter")

# Time kept back at the end of an invocation to send, checkpoint and hand the rest over.
HANDOFF_RESERVE_S = 60.0
# Messages sent between checkpoints (five SendMessageBatch calls to a job record write).
# A checkpoint per call held the splitter alone to 21,400 rows/s on the emulator, one per five
# let it split 28,500-29,900 (bench/README.md). What a crash may send again is at most these
# messages; the ledger counts a message's rows once, whichever copy posts them.
MESSAGES_PER_CHECKPOINT = 5 * SQS_SEND_BATCH_MAX_ENTRIES
# Rejected records held before a checkpoint writes them out, so a file of bad records too
# is split in bounded memory.
REJECTS_PER_CHECKPOINT = 1000


@dataclass
class SplitResult:
    job_id: str
    started: bool
    handed_off: bool = False
    rows_total: int = 0
    rows_rejected: int = 0
    messages: int = 0
    error: str = ""


@dataclass
class _Segment:
    """What this invocation has done since the last checkpoint."""

    rejects: list[Rejected] = field(default_factory=list)
    pending: list[WorkMessage] = field(default_factory=list)


class Splitter:
    def __init__(
        self,
        s3: S3Client,
        sqs: SQSClient,
        jobs: JobStore,
        settings: SplitterSettings,
        metrics_target: MetricsTarget,
        before_send: Callable[[], None] | None = None,
    ) -> None:
        self._s3 = s3
        self._sqs = sqs
        self._jobs = jobs
        self._settings = settings
        self._before_send = before_send or (lambda: None)
        self._max_message_bytes: int | None = None
        self._metrics_target = metrics_target
        self._progress = SplitProgress(metrics_target)
        # The job of the split under way (or last begun): what an invocation failure is noted on.
        self.job_in_hand: str | None = None
        self._source: ObjectBytes | None = None  # what the split under way reads
        self._requests = RequestStore(s3)

    def split(self, ref: ObjectRef, time_left: Callable[[], float] = lambda: float("inf")) -> SplitResult:
        self.job_in_hand = None
        head = self._head(ref)
        version = object_version(head.get("VersionId"), head["ETag"])
        job_id = job_id_for(ref.bucket, ref.key, version)
        self.job_in_hand = job_id
        try:
            threshold = self._settings.failure_threshold.overridden_by(head.get("Metadata", {}))
        except InputError as exc:
            if self._jobs.create(job_id, ref.bucket, ref.key, version):
                self._jobs.fail_split(job_id, str(exc))
            return SplitResult(job_id, started=False, error=str(exc))
        self._jobs.create(job_id, ref.bucket, ref.key, version, threshold)
        job = self._jobs.get(job_id)
        owner = str(uuid.uuid4())
        if job is None or job.split_state != SPLITTING:
            return SplitResult(job_id, started=False)  # split already: a duplicated trigger
        if not self._jobs.take_lease(job_id, owner, time.time() + max(time_left(), HANDOFF_RESERVE_S)):
            log.info("another invocation is splitting this job", extra={"job_id": job_id})
            return SplitResult(job_id, started=False)
        result = SplitResult(job_id, started=True)
        self._progress = SplitProgress(self._metrics_target)
        try:
            fmt = self._settings.csv_format.overridden_by(head.get("Metadata", {}))
            request = self._request_for(job, head)
            self._split(ref, head, fmt, job, result, time_left, request)
        except ConfigError:
            raise  # the deployment's fault, not the file's: the job waits for a fix
        except PermanentError as exc:
            # Nothing about this object version will change: the job fails with the reason,
            # and the notification is done with (not redelivered to fail the same way again).
            result.error = str(exc)
            self._jobs.fail_split(job_id, result.error)
            log.warning("job failed: %s", result.error, extra={"job_id": job_id})
        finally:
            self._jobs.release_lease(job_id, owner)
            self._progress.publish()
        return result

    def _request_for(self, job: Job, head: Any) -> tuple[RequestRef, RequestSpec] | None:
        """The job's spec: pinned in its record by an earlier invocation, else the one the file asks for."""
        if job.request_pinned:
            return (job.request, self._requests.load(job.request)) if job.request else None
        asked = requested(head.get("Metadata", {}), self._settings.default_request)
        # Recorded before any message goes out: a later invocation sends with the same version
        # (or the default request, whatever DefaultRequest says by then).
        if asked is None:
            self._jobs.set_request(job.job_id, None)
            return None
        pinned, spec = self._requests.pin(job.bucket, *asked)
        self._jobs.set_request(job.job_id, pinned)
        return pinned, spec

    def _split(
        self,
        ref: ObjectRef,
        head: Any,
        fmt: CsvFormat,
        job: Job,
        result: SplitResult,
        time_left: Callable[[], float],
        request: tuple[RequestRef, RequestSpec] | None,
    ) -> None:
        checkpoint = job.checkpoint
        resume = None
        if checkpoint:
            resume = Resume(checkpoint.offset, checkpoint.next_row, checkpoint.columns, checkpoint.delimiter)
        start_offset = resume.offset if resume else 0
        source = self._source = ObjectBytes(self._s3, ref, head, start_offset, READ_CHUNK_BYTES)
        records = CsvRecords(self._counted(source), fmt, resume)
        renderer = _renderer(request, records.columns)
        builder = MessageBuilder(
            result.job_id,
            records.columns,
            self._settings.rows_per_message,
            self._message_limit(),
            first_seq=checkpoint.next_seq if checkpoint else 1,
            request=request[0] if request else None,
        )
        rejected = checkpoint.rows_rejected if checkpoint else 0
        segment = _Segment()
        next_row = checkpoint.next_row if checkpoint else 1
        first_row, first_rejected = next_row, rejected
        rounds = EvenRounds(
            self._settings.rows_per_message,
            self._settings.round_messages,
            source.size,
            checkpoint.source_offset if checkpoint else 0,
            first_row,
        )
        if job.stopped:
            self._stop(result, records, next_row)
            return
        for record in records:
            next_row = record.number + 1
            if renderer is not None and not isinstance(record, Rejected):
                record = unless_unsendable(renderer, result.job_id, record)
            if isinstance(record, Rejected):
                segment.rejects.append(record)
            else:
                if builder.empty:
                    at = source.source_offset(records.offset)
                    builder.limit_rows(rounds.rows_for(at, record.number, builder.next_seq - 1))
                segment.pending.extend(self._pack(builder, record, segment))
            if (
                len(segment.pending) >= MESSAGES_PER_CHECKPOINT
                or len(segment.rejects) >= REJECTS_PER_CHECKPOINT
            ):
                rejected, job = self._checkpoint(ref, result, records, builder, segment, next_row, rejected)
                self._progress.update(next_row - first_row, result.messages, rejected - first_rejected)
                segment = _Segment()
                if job.stopped:
                    self._stop(result, records, next_row)
                    return
                if time_left() < HANDOFF_RESERVE_S:
                    result.handed_off = True
                    return
        rejected, _ = self._checkpoint(ref, result, records, builder, segment, next_row, rejected)
        self._progress.update(next_row - first_row, result.messages, rejected - first_rejected)
        self._finish(ref, result, next_row - 1, rejected)

    def _stop(self, result: SplitResult, records: CsvRecords, next_row: int) -> None:
        """The job was cancelled or halted: nothing more is sent. The rest of the file is read only
        to count its records, which are cancelled until a resume splits on from the checkpoint."""
        unsplit = sum(1 for _ in records)
        result.rows_total = next_row - 1 + unsplit
        self._jobs.stop_split(result.job_id, result.rows_total, unsplit)
        log.info("split stopped: %d rows not sent", unsplit, extra={"job_id": result.job_id})

    def _checkpoint(
        self,
        ref: ObjectRef,
        result: SplitResult,
        records: CsvRecords,
        builder: MessageBuilder,
        segment: _Segment,
        next_row: int,
        rejected: int,
    ) -> tuple[int, Job]:
        """Sends what is pending (with any part-filled message) and records where the split is;
        the rows rejected so far and the job as the record then stood."""
        self._send([*segment.pending, *builder.flush()], result)
        if segment.rejects:
            self._write_rejects_part(ref.bucket, result.job_id, records.offset, segment.rejects)
        rejected += len(segment.rejects)
        assert self._source is not None
        checkpoint = SplitCheckpoint(
            records.offset,
            next_row,
            builder.next_seq,
            rejected,
            records.columns,
            records.delimiter,
            self._source.source_offset(records.offset),
        )
        job = self._jobs.save_checkpoint(
            result.job_id, checkpoint, self._source.size, records.format.describe(records.delimiter)
        )
        return rejected, job

    def _finish(self, ref: ObjectRef, result: SplitResult, rows_total: int, rejected: int) -> None:
        result.rows_total, result.rows_rejected = rows_total, rejected
        if rows_total == 0:
            result.error = "the file has a header but no data rows"
            self._jobs.fail_split(result.job_id, result.error)
            return
        if rejected:
            self._combine_rejects(ref.bucket, result.job_id)
        self._jobs.finish_split(result.job_id, rows_total, rejected)
        log.info("split %d rows", rows_total, extra={"job_id": result.job_id})

    def _pack(self, builder: MessageBuilder, row: Row, segment: _Segment) -> Iterator[WorkMessage]:
        for item in builder.add(row):
            if isinstance(item, Oversized):
                excerpt = ",".join(row.values)[:EXCERPT_CHARS]
                segment.rejects.append(Rejected(row.number, item.reason, excerpt))
            else:
                yield item

    def _head(self, ref: ObjectRef) -> Any:
        args: dict[str, Any] = {"Bucket": ref.bucket, "Key": ref.key}
        if ref.version_id:
            args["VersionId"] = ref.version_id
        return self._s3.head_object(**args)

    def _counted(self, source: ObjectBytes) -> Iterator[bytes]:
        for chunk in source:
            self._progress.bytes_read = source.stored_bytes_read
            yield chunk

    def _message_limit(self) -> int:
        if self._max_message_bytes is None:
            self._max_message_bytes = max_message_bytes(self._sqs, self._settings.work_queue_url)
        return self._max_message_bytes

    def _send(self, messages: list[WorkMessage], result: SplitResult) -> None:
        if not messages:
            return
        self._before_send()
        entries = ((str(m.seq), m.to_body()) for m in messages)
        for batch in send_batches(entries, self._message_limit()):
            send_message_batch(self._sqs, self._settings.work_queue_url, batch)
        result.messages += len(messages)

    def _write_rejects_part(self, bucket: str, job_id: str, offset: int, rejects: list[Rejected]) -> None:
        out = io.StringIO()
        csv.writer(out).writerows([r.number, r.reason, r.excerpt, r.column] for r in rejects)
        key = f"{REJECTS_PREFIX}{job_id}/part-{offset:015d}.csv"
        self._s3.put_object(Bucket=bucket, Key=key, Body=out.getvalue().encode())

    def _combine_rejects(self, bucket: str, job_id: str) -> None:
        """The parts written at each checkpoint, in file order, as one rejects/<job>.csv
        (written part by part, so memory stays one upload part)."""
        keys = sorted(obj["Key"] for obj in list_objects(self._s3, bucket, f"{REJECTS_PREFIX}{job_id}/"))
        with MultipartWriter(self._s3, bucket, rejects_key(job_id)) as target:
            target.write(b"row_number,reason,excerpt,column\r\n")
            for key in keys:
                target.write(self._s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        for key in keys:
            self._s3.delete_object(Bucket=bucket, Key=key)


def _renderer(
    request: tuple[RequestRef, RequestSpec] | None, columns: tuple[str, ...]
) -> RequestRenderer | None:
    """The job's spec bound to the file's columns (the API URL does not change what is rejected)."""
    if request is None:
        return None
    try:
        return RequestRenderer(request[1], columns, UNNAMED_ENDPOINT)
    except InputError as exc:
        raise InputError(f"request spec {request[0]}: {exc}") from None


def unless_unsendable(renderer: RequestRenderer, job_id: str, row: Row) -> Row | Rejected:
    """The row, or its rejection if a cell cannot be sent as the spec says (before anything is sent)."""
    try:
        renderer.render(job_id, row)
    except CellError as exc:
        return Rejected(row.number, str(exc), exc.excerpt, exc.column)
    return row
