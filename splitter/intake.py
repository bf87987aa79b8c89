"""The splitter's SQS event: each intake message is an S3 notification naming new objects, or a
finished job's results to combine (fanout/results_handoff.py)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from fanout.errors import PermanentError
from fanout.failures import FailedMessages
from fanout.jobs import ReportClaim
from fanout.lambda_time import time_left as invocation_time_left
from fanout.queues import dead_letter_unreadable, queue_url_for_arn
from fanout.reports import JobReporter
from fanout.results_handoff import combine_request
from fanout.s3events import ObjectRef, objects_created
from splitter.core import Splitter

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

log = logging.getLogger("fanout.splitter")


class IntakeProcessor:
    """Per intake message: a PermanentError about the object fails its job (in Splitter) and the
    message is done; one about the message itself sends it to the intake DLQ with the reason;
    anything else (a RetryableError, an AWS failure) hands the message back to FailedMessages,
    which logs, counts and retries it after a short backoff."""

    def __init__(
        self,
        splitter: Splitter,
        sqs: SQSClient,
        reporter: JobReporter,
        failures: FailedMessages,
        intake_dlq_url: str,
    ) -> None:
        self._splitter = splitter
        self._sqs = sqs
        self._reporter = reporter
        self._failures = failures
        self._intake_dlq_url = intake_dlq_url

    def handle(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        try:
            time_left = invocation_time_left(context, float("inf"))
            processor = BatchProcessor(EventType.SQS, raise_on_entire_batch_failure=False)
            response = process_partial_response(
                event, lambda record: self._record(record, time_left), processor, context
            )
        except Exception as exc:
            self._failures.retry_soon([SQSRecord(r) for r in event.get("Records", [])], exc)
            raise
        return dict(response)

    def _record(self, record: SQSRecord, time_left: Callable[[], float]) -> None:
        try:
            claim = combine_request(record.body)
            refs = objects_created(record.body) if claim is None else []
        except PermanentError as exc:
            self._dead_letter(record, str(exc))
            return
        if claim is not None:
            self._combine(record, claim, time_left)
            return
        try:
            self._split_all(record, refs, time_left)
        except Exception as exc:
            # The batch processor reports this message as failed and logs why at DEBUG only.
            job = self._splitter.job_in_hand
            self._failures.retry_soon([record], exc, [job] if job else [])
            raise

    def _combine(self, record: SQSRecord, claim: ReportClaim, time_left: Callable[[], float]) -> None:
        try:
            self._reporter.combine_and_report(claim, time_left)
        except Exception as exc:
            self._failures.retry_soon([record], exc, [claim.job_id])
            raise

    def _split_all(self, record: SQSRecord, refs: list[ObjectRef], time_left: Callable[[], float]) -> None:
        for ref in refs:
            result = self._splitter.split(ref, time_left)
            if result.handed_off:
                self._hand_over(record)
            else:
                # A job can end here: a failed split, every row rejected, or the workers settled
                # the last row before the split was recorded.
                self._reporter.report_if_finished(result.job_id)

    def _hand_over(self, record: SQSRecord) -> None:
        """The same notification again, as a new message: a fresh invocation goes on from the
        checkpoint, and this one's delivery counts nothing against the intake redrive policy."""
        url = queue_url_for_arn(self._sqs, record.event_source_arn or "")
        self._sqs.send_message(QueueUrl=url, MessageBody=record.body)

    def _dead_letter(self, record: SQSRecord, reason: str) -> None:
        log.error("unreadable intake message: sent to the intake DLQ (%s)", reason)
        dead_letter_unreadable(self._sqs, self._intake_dlq_url, record.body, reason)
