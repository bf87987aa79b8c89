"""One worker invocation: post every open row of the batch, settle each message, report the rest.

All rows of all messages go to one thread pool at once, so the pool stays full across message
boundaries; each message is then settled on its own (Powertools' partial batch response).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from fanout.backoff import backoff_delay
from fanout.contract import RowFailure, WorkMessage
from fanout.errors import PermanentError, RetryableError
from fanout.limits import SQS_MAX_VISIBILITY_TIMEOUT_S
from fanout.queues import send_message_batch
from worker.ledger import Ledger
from worker.poster import RowPoster, RowResult

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

log = logging.getLogger("fanout.worker")

# Time kept back at the end of an invocation to settle messages after the last row.
SETTLE_RESERVE_S = 3.0
# A message with rows still open becomes visible again after this backoff (per receive).
REDELIVERY_BASE_S = 2.0
REDELIVERY_CAP_S = 300.0


@dataclass
class _Pending:
    message: WorkMessage
    futures: list[Future[RowResult]]


class Worker:
    def __init__(
        self,
        poster: RowPoster,
        ledger: Ledger,
        sqs: SQSClient,
        dlq_url: str,
        threads: int,
        max_receive_count: int,
    ) -> None:
        self._poster = poster
        self._ledger = ledger
        self._sqs = sqs
        self._dlq_url = dlq_url
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="post")
        self._max_receive_count = max_receive_count
        self._queue_urls: dict[str | None, str] = {}

    def handle(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        time_left = _time_left(context)
        pending: dict[str, _Pending] = {}
        for record in event.get("Records", []):
            message = _parse(record["body"])
            if message is not None:
                pending[record["messageId"]] = self._start(message, time_left)

        def settle(record: SQSRecord) -> None:
            if record.message_id not in pending:
                raise ValueError("malformed work message")  # left to the redrive policy
            self._settle(record, pending[record.message_id])

        processor = BatchProcessor(EventType.SQS, raise_on_entire_batch_failure=False)
        return dict(process_partial_response(event, settle, processor, context))

    def _start(self, message: WorkMessage, time_left: Callable[[], float]) -> _Pending:
        settled = self._ledger.settled(message.key)
        redriven = bool(message.failures)
        skip = settled.posted if redriven else settled.posted | settled.failed
        post_by = lambda_deadline(time_left)
        futures = [
            self._pool.submit(self._poster.post, message.job_id, message.columns, row, post_by)
            for row in message.rows
            if row.number not in skip
        ]
        return _Pending(message, futures)

    def _settle(self, record: SQSRecord, pending: _Pending) -> None:
        results = [future.result() for future in pending.futures]
        message = pending.message
        posted = {r.number for r in results if r.posted}
        final_delivery = int(record.attributes.approximate_receive_count) >= self._max_receive_count
        failures: dict[int, RowFailure] = {
            r.number: r.failure for r in results if r.failure is not None and (r.permanent or final_delivery)
        }
        if failures:
            dead = message.with_rows(set(failures), failures)
            send_message_batch(self._sqs, self._dlq_url, [("0", dead.to_body())])
        change = self._ledger.record(message.key, message.job_id, posted, set(failures))
        still_open = len(results) - len(posted) - len(failures)
        log.info(
            "settled message: %d posted, %d failed, %d open",
            len(change.posted),
            len(change.failed),
            still_open,
            extra={"job_id": message.job_id, "message_id": record.message_id},
        )
        if still_open:
            self._delay_redelivery(record)
            raise RetryableError(f"{still_open} rows of message {message.key} are still open")

    def _delay_redelivery(self, record: SQSRecord) -> None:
        """Backs off the next delivery instead of waiting out the whole visibility timeout."""
        receives = int(record.attributes.approximate_receive_count)
        delay = REDELIVERY_BASE_S + backoff_delay(receives, REDELIVERY_BASE_S, REDELIVERY_CAP_S)
        queue_url = self._queue_url(record.event_source_arn)
        self._sqs.change_message_visibility(
            QueueUrl=queue_url,
            ReceiptHandle=record.receipt_handle,
            VisibilityTimeout=min(int(delay), SQS_MAX_VISIBILITY_TIMEOUT_S),
        )

    def _queue_url(self, arn: str | None) -> str:
        if arn not in self._queue_urls:
            _, _, _, _, account, name = (arn or "").split(":", 5)
            url = self._sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
            self._queue_urls[arn] = url
        return self._queue_urls[arn]


def _parse(body: str) -> WorkMessage | None:
    try:
        return WorkMessage.from_body(body)
    except PermanentError:
        log.exception("malformed work message: left for the redrive policy to move to the DLQ")
        return None


def _time_left(context: Any) -> Callable[[], float]:
    if context is not None and hasattr(context, "get_remaining_time_in_millis"):
        return lambda: float(context.get_remaining_time_in_millis()) / 1000.0
    start = time.monotonic()
    return lambda: 900.0 - (time.monotonic() - start)


def lambda_deadline(time_left: Callable[[], float]) -> Callable[[], float]:
    """Time left for posting: the invocation's, less what settling the messages needs."""
    return lambda: time_left() - SETTLE_RESERVE_S
