"""What a function does when an invocation fails on messages: say why, count it, retry it soon.

Lambda leaves the messages of a failed invocation, and the failed items of a partial batch
response, in flight until the queue's visibility timeout runs out (90 minutes on the intake
queue, 12 on the work queue) and logs nothing of the cause: Powertools' batch processor
records a record's exception at DEBUG only (BasePartialProcessor.failure_handler), through a
logger that does not propagate. So the cores hand every failure here: logged at ERROR with its
cause, counted in a metric (SplitterFailures, WorkerFailures), noted on the jobs it touched
(`fanout status`, `fanout run`'s progress), and each message made visible again after a short
backoff with ChangeMessageVisibility, on AWS and on the local stack alike. The queues' redrive
policies still bound how often a message is tried.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from botocore.exceptions import BotoCoreError, ClientError

from fanout.jobs import JobStore
from fanout.metrics import MetricSet, MetricsTarget
from fanout.redelivery import Redelivery

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

# A cause as the job record and the progress line show it: its first line, this long at most.
REASON_CHARS = 300


def failure_reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")[:REASON_CHARS]


class FailedMessages:
    def __init__(
        self,
        sqs: SQSClient,
        jobs: JobStore,
        metrics_target: MetricsTarget,
        metric: str,
        log: logging.Logger,
    ) -> None:
        self._redelivery = Redelivery(sqs)
        self._jobs = jobs
        self._metrics_target = metrics_target
        self._metric = metric
        self._log = log

    def retry_soon(
        self, records: Sequence[SQSRecord], exc: BaseException, job_ids: Iterable[str] = ()
    ) -> None:
        """`records` failed with `exc`: each comes back after a backoff."""
        self.note(exc, len(records), job_ids)
        for record in records:
            try:
                self._redelivery.back_off(record)
            except (ClientError, BotoCoreError):
                # The message still comes back, after its visibility timeout.
                self._log.exception("could not make message %s visible again soon", record.message_id)

    def note(self, exc: BaseException, messages: int, job_ids: Iterable[str] = ()) -> None:
        """Logs, counts and records a failure whose messages are already on their way back."""
        jobs = sorted(set(job_ids))
        self._log.error(
            "invocation failed on %d messages, retried after a backoff: %s",
            messages,
            failure_reason(exc),
            exc_info=exc,
            extra={"job_id": ",".join(jobs)} if jobs else None,
        )
        tally = MetricSet()
        tally.count(self._metric, messages)
        self._metrics_target.publish(tally)
        for job_id in jobs:
            try:
                self._jobs.record_failure(job_id, failure_reason(exc))
            except (ClientError, BotoCoreError):
                self._log.exception("could not record the failure on job %s", job_id)
