"""Splitting one CSV object into work messages, and recording the job."""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fanout.contract import Row, WorkMessage, job_id_for
from fanout.errors import InputError
from fanout.jobs import JobStore
from fanout.queues import max_message_bytes, send_message_batch
from fanout.s3events import ObjectRef, object_version
from fanout.settings import SplitterSettings
from splitter.batching import MessageBuilder, Oversized, send_batches
from splitter.records import READ_CHUNK_BYTES, CsvRecords, Rejected

if TYPE_CHECKING:
    from botocore.response import StreamingBody
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

log = logging.getLogger("fanout.splitter")

REJECTS_PREFIX = "rejects/"


@dataclass
class SplitResult:
    job_id: str
    started: bool
    rows_total: int = 0
    rows_rejected: int = 0
    messages: int = 0
    error: str = ""
    rejects: list[Rejected] = field(default_factory=list)


class Splitter:
    def __init__(
        self,
        s3: S3Client,
        sqs: SQSClient,
        jobs: JobStore,
        settings: SplitterSettings,
        before_send: Callable[[], None] | None = None,
    ) -> None:
        self._s3 = s3
        self._sqs = sqs
        self._jobs = jobs
        self._settings = settings
        self._before_send = before_send or (lambda: None)
        self._max_message_bytes: int | None = None

    def split(self, ref: ObjectRef) -> SplitResult:
        body, version = self._open(ref)
        job_id = job_id_for(ref.bucket, ref.key, version)
        if not self._jobs.create(job_id, ref.bucket, ref.key, version):
            body.close()
            log.info("job already recorded for this object version", extra={"job_id": job_id})
            return SplitResult(job_id, started=False)
        result = SplitResult(job_id, started=True)
        try:
            self._split_into(_chunks(body), result)
        except InputError as exc:
            result.error = str(exc)
            self._jobs.fail_split(job_id, result.error)
            log.warning("job failed: %s", result.error, extra={"job_id": job_id})
            return result
        if result.rows_total == 0 and not result.error:
            result.error = "the file has a header but no data rows"
            self._jobs.fail_split(job_id, result.error)
            return result
        if result.rejects:
            self._write_rejects(ref.bucket, job_id, result.rejects)
        self._jobs.finish_split(job_id, result.rows_total, result.rows_rejected)
        log.info(
            "split %d rows into %d messages",
            result.rows_total,
            result.messages,
            extra={"job_id": job_id},
        )
        return result

    def _split_into(self, chunks: Iterator[bytes], result: SplitResult) -> None:
        records = CsvRecords(chunks)
        builder = MessageBuilder(
            result.job_id, records.columns, self._settings.rows_per_message, self._message_limit()
        )
        pending: list[WorkMessage] = []
        for record in records:
            result.rows_total += 1
            if isinstance(record, Rejected):
                self._reject(result, record)
                continue
            pending.extend(self._pack(builder, record, result))
            if len(pending) >= 10:
                self._send(pending, result)
                pending = []
        pending.extend(builder.flush())
        self._send(pending, result)

    def _pack(self, builder: MessageBuilder, row: Row, result: SplitResult) -> Iterator[WorkMessage]:
        for item in builder.add(row):
            if isinstance(item, Oversized):
                self._reject(result, Rejected(row.number, item.reason, ",".join(row.values)[:200]))
            else:
                yield item

    @staticmethod
    def _reject(result: SplitResult, rejected: Rejected) -> None:
        result.rows_rejected += 1
        result.rejects.append(rejected)

    def _open(self, ref: ObjectRef) -> tuple[StreamingBody, str]:
        """The object's body, streamed, and the version that tells its job apart."""
        args: dict[str, Any] = {"Bucket": ref.bucket, "Key": ref.key}
        if ref.version_id:
            args["VersionId"] = ref.version_id
        response = self._s3.get_object(**args)
        return response["Body"], object_version(response.get("VersionId"), response["ETag"])

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

    def _write_rejects(self, bucket: str, job_id: str, rejects: list[Rejected]) -> None:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["row_number", "reason", "excerpt"])
        writer.writerows([r.number, r.reason, r.excerpt] for r in rejects)
        self._s3.put_object(Bucket=bucket, Key=f"{REJECTS_PREFIX}{job_id}.csv", Body=out.getvalue().encode())


def _chunks(body: StreamingBody) -> Iterator[bytes]:
    try:
        while chunk := body.read(READ_CHUNK_BYTES):
            yield chunk
    finally:
        body.close()
