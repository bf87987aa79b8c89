"""A message handed back to SQS for a retry comes back after a short backoff.

Left alone, a message a function reports as failed stays hidden for the queue's whole visibility
timeout (six times the function's timeout: 12 minutes for the worker, 90 for the splitter).
Each function changes the visibility of what it hands back to a backoff that grows with the
message's receive count, so a passing failure is retried within seconds.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TYPE_CHECKING

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from fanout.backoff import backoff_delay
from fanout.limits import SQS_MAX_VISIBILITY_TIMEOUT_S
from fanout.queues import queue_url_for_arn

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

# The first redelivery waits 2-4 s; each further receive doubles the ceiling, up to 5 minutes.
REDELIVERY_BASE_S = 2.0
REDELIVERY_CAP_S = 300.0


def redelivery_delay_s(receives: int, rand: Callable[[], float] = random.random) -> int:
    """Seconds a message received `receives` times stays hidden before its next delivery."""
    delay = REDELIVERY_BASE_S + backoff_delay(receives, REDELIVERY_BASE_S, REDELIVERY_CAP_S, rand)
    return min(int(delay), SQS_MAX_VISIBILITY_TIMEOUT_S)


class Redelivery:
    """Backs off the next delivery of records from the queues an event names."""

    def __init__(self, sqs: SQSClient) -> None:
        self._sqs = sqs
        self._queue_urls: dict[str, str] = {}

    def back_off(self, record: SQSRecord) -> None:
        receives = int(record.attributes.approximate_receive_count)
        self._sqs.change_message_visibility(
            QueueUrl=self.queue_url(record.event_source_arn or ""),
            ReceiptHandle=record.receipt_handle,
            VisibilityTimeout=redelivery_delay_s(receives),
        )

    def queue_url(self, arn: str) -> str:
        if arn not in self._queue_urls:
            self._queue_urls[arn] = queue_url_for_arn(self._sqs, arn)
        return self._queue_urls[arn]
