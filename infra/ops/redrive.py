"""Moving dead-letter messages back to the work queue, so their rows are tried again.

StartMessageMoveTask moves everything, fast, where the endpoint has it; for a job filter, a
count limit, or an endpoint without it (the emulator), a loop sends each message before it
deletes it, so an interruption loses nothing and at worst repeats a message whose settled rows
the ledger then skips.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from fanout.limits import SQS_SEND_BATCH_MAX_ENTRIES
from fanout.queues import send_message_batch
from infra.ops.dead_letters import DeadLetters, DeadMessage, wait_s

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


@dataclass(frozen=True)
class RedriveRequest:
    job: str | None = None
    max_messages: int | None = None
    rate: float | None = None
    dry_run: bool = False


@dataclass
class RedriveResult:
    method: str
    messages: int = 0
    rows: int = 0
    left: int = 0


def _matches(dead: DeadMessage, job: str | None) -> bool:
    return dead.message is not None and (job is None or dead.message.job_id == job)


class Redrive:
    def __init__(
        self,
        sqs: SQSClient,
        dead_letters: DeadLetters,
        dlq_arn: str,
        work_queue_url: str,
        work_queue_arn: str,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._sqs = sqs
        self._dead = dead_letters
        self._dlq_arn = dlq_arn
        self._work_url = work_queue_url
        self._work_arn = work_queue_arn
        self._sleep = sleep

    def run(self, request: RedriveRequest) -> RedriveResult:
        # Messages the redrive policy moved get their reason (and count) before anything moves.
        # That read, which ends on an empty long poll (it asks every SQS server, unlike a short
        # one), is the copy's read too: a second one cost another second's poll. Only the
        # replacements of annotated messages, sent meanwhile, need reading again.
        held, replaced = self._dead.annotate_held()
        whole_queue = request.job is None and request.max_messages is None and not request.dry_run
        if whole_queue and self._move_task(request.rate):
            self._dead.release(held)
            return RedriveResult("StartMessageMoveTask", messages=-1, rows=-1)
        if replaced:
            held += self._dead.receive_all()
        return self._copy(held, request)

    def _move_task(self, rate: float | None) -> bool:
        args: dict[str, object] = {"SourceArn": self._dlq_arn, "DestinationArn": self._work_arn}
        if rate:
            args["MaxNumberOfMessagesPerSecond"] = max(1, int(rate))
        try:
            self._sqs.start_message_move_task(**args)  # type: ignore[arg-type]
        except (ClientError, NotImplementedError):
            return False  # not on this endpoint (the emulator): move them ourselves
        return True

    def copy(self, request: RedriveRequest) -> RedriveResult:
        """Moves the chosen messages one by one, as they are (none is annotated first)."""
        return self._copy(self._dead.receive_all(), request)

    def _copy(self, held: list[DeadMessage], request: RedriveRequest) -> RedriveResult:
        """Moves the chosen of the `held` messages (hidden by this command); releases the rest."""
        result = RedriveResult("copy")
        chosen = [m for m in held if _matches(m, request.job)]
        if request.max_messages is not None:
            chosen = chosen[: request.max_messages]
        result.left = len(held) - len(chosen)
        if request.dry_run:
            result.messages = len(chosen)
            result.rows = sum(len(m.rows()) for m in chosen)
            self._dead.release(held)
            return result
        self._dead.release([m for m in held if m not in chosen])
        started = time.monotonic()
        for start in range(0, len(chosen), SQS_SEND_BATCH_MAX_ENTRIES):
            batch = chosen[start : start + SQS_SEND_BATCH_MAX_ENTRIES]
            self._sleep(wait_s(request.rate, result.messages, started))
            send_message_batch(self._sqs, self._work_url, [(str(i), m.body) for i, m in enumerate(batch)])
            self._dead.delete(batch)
            result.messages += len(batch)
            result.rows += sum(len(m.rows()) for m in batch)
        return result
