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
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from botocore.exceptions import BotoCoreError, ClientError

from fanout.aws_clients import ClientLimits, bounded_session
from fanout.errors import FanoutError
from fanout.jobs import JobStore
from fanout.logs import structured_logging
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
        jobs: JobStore | None,
        metrics_target: MetricsTarget | None,
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
        if self._metrics_target is not None:
            tally = MetricSet()
            tally.count(self._metric, messages)
            self._metrics_target.publish(tally)
        if self._jobs is not None:
            self._record_on_jobs(self._jobs, jobs, exc)

    def _record_on_jobs(self, store: JobStore, job_ids: list[str], exc: BaseException) -> None:
        for job_id in job_ids:
            try:
                store.record_failure(job_id, failure_reason(exc))
            except (ClientError, BotoCoreError):
                self._log.exception("could not record the failure on job %s", job_id)


def retry_after_failed_start(
    event: Mapping[str, object],
    exc: BaseException,
    metric: str,
    log: logging.Logger,
    env: Mapping[str, str],
    limits: ClientLimits,
) -> None:
    """The function's core could not be built (a setting missing or out of range, a secret it
    cannot read): the event's messages are logged, counted and retried the same way, with what
    can be made without the core (no job is known yet; SQS is called within the function's `limits`)."""
    try:
        target: MetricsTarget | None = MetricsTarget.from_env(env)
    except FanoutError:
        target = None  # the metrics' own settings are what is missing: the log line says so
    records = event.get("Records", [])
    failed = FailedMessages(bounded_session(limits).client("sqs"), None, target, metric, log)
    failed.retry_soon([SQSRecord(r) for r in records] if isinstance(records, list) else [], exc)


class Core(Protocol):
    def handle(self, event: dict[str, Any], context: Any) -> dict[str, Any]: ...


LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


def lambda_handler_for(
    build: Callable[[Mapping[str, str]], Core], metric: str, log: logging.Logger, limits: ClientLimits
) -> LambdaHandler:
    """A function's Lambda entry point: its core built from the environment on the first
    invocation and kept for the execution environment's life. A core that cannot be built fails
    the invocation after retry_after_failed_start, and the next invocation tries again."""

    @cache
    def core() -> Core:
        structured_logging()
        return build(os.environ)

    def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        try:
            built = core()
        except Exception as exc:
            retry_after_failed_start(event, exc, metric, log, os.environ, limits)
            raise
        return built.handle(event, context)

    return lambda_handler
