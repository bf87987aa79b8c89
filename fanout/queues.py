"""Sending to SQS in batches, re-sending the entries a call reports as failed."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from fanout.backoff import backoff_delay
from fanout.errors import PermanentError, RetryableError
from fanout.limits import SQS_DEFAULT_MAX_MESSAGE_BYTES

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

# SendMessageBatch can fail some entries (throttling, internal errors); try each again this
# many times before giving the work back to the caller's own retry.
SEND_ATTEMPTS = 5
SEND_BACKOFF_BASE_S = 0.1
SEND_BACKOFF_CAP_S = 2.0


def max_message_bytes(sqs: SQSClient, queue_url: str) -> int:
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["MaximumMessageSize"])
    return int(attributes.get("Attributes", {}).get("MaximumMessageSize", SQS_DEFAULT_MAX_MESSAGE_BYTES))


def send_message_batch(
    sqs: SQSClient,
    queue_url: str,
    entries: Sequence[tuple[str, str]],
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Sends (id, body) entries (at most 10); raises if any entry is still unsent after retries."""
    pending = {entry_id: body for entry_id, body in entries}
    for attempt in range(1, SEND_ATTEMPTS + 1):
        response = sqs.send_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": entry_id, "MessageBody": body} for entry_id, body in pending.items()],
        )
        for ok in response.get("Successful", []):
            pending.pop(ok["Id"], None)
        failed = response.get("Failed", [])
        permanent = [f for f in failed if f.get("SenderFault")]
        if permanent:
            detail = "; ".join(f"{f['Id']}: {f.get('Code')} {f.get('Message', '')}" for f in permanent)
            raise PermanentError(f"SQS refused messages: {detail}")
        if not pending:
            return
        if attempt < SEND_ATTEMPTS:
            sleep(backoff_delay(attempt, SEND_BACKOFF_BASE_S, SEND_BACKOFF_CAP_S))
    raise RetryableError(f"SQS did not accept {len(pending)} messages after {SEND_ATTEMPTS} attempts")


def queue_url_for_arn(sqs: SQSClient, arn: str) -> str:
    """The URL of the queue an event source ARN names (arn:aws:sqs:REGION:ACCOUNT:NAME)."""
    _, _, _, _, account, name = arn.split(":", 5)
    return sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]


# The message attribute that says why a function sent a message it could not read to a DLQ.
UNREADABLE_REASON_ATTRIBUTE = "fanout-error"


def dead_letter_unreadable(sqs: SQSClient, dlq_url: str, body: str, reason: str) -> None:
    """A message no delivery can read goes to the DLQ as it came, with the reason, at once
    (not after the redrive policy's receives, each failing the same way)."""
    sqs.send_message(
        QueueUrl=dlq_url,
        MessageBody=body,
        MessageAttributes={UNREADABLE_REASON_ATTRIBUTE: {"DataType": "String", "StringValue": reason}},
    )
