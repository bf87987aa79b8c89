"""A local SQS event source mapping: poll, invoke with Lambda's event shape, delete what succeeded.

Each poller thread stands for one concurrent execution environment: it owns one handler
instance (warm across invocations, as on Lambda) and runs one invocation at a time.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from fanout.limits import SQS_DELETE_BATCH_MAX_ENTRIES, SQS_RECEIVE_MAX_MESSAGES
from infra.local.stack import LOCAL_REGION, LocalFunction, SqsTrigger

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef

log = logging.getLogger("fanout.local")

# Short polls keep shutdown quick; an empty queue is polled again after this wait.
POLL_WAIT_S = 1
# How often a local mapping reads its configuration (pause, resume, maximum concurrency).
CONTROL_POLL_S = 1.0
# boto3 sessions are not thread-safe: clients and handlers are built one at a time.
_BUILD_LOCK = threading.Lock()


class Handler(Protocol):
    def handle(self, event: dict[str, Any], context: Any) -> dict[str, Any]: ...


@dataclass
class LocalContext:
    """The parts of Lambda's context object the handlers use."""

    function_name: str
    memory_limit_in_mb: int
    timeout_s: float
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{LOCAL_REGION}:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_s - (time.monotonic() - self.started)) * 1000))


def handler_module(function: LocalFunction) -> ModuleType:
    """The module of the function's Lambda handler (imported once per process)."""
    return importlib.import_module(function.handler.rsplit(".", 1)[0])


def handler_factory(function: LocalFunction, **kwargs: Any) -> Callable[[], Handler]:
    """Builds the function's core from its template environment, as its Lambda handler does."""
    module = handler_module(function)

    def build() -> Handler:
        core: Handler = module.build(function.environment, **kwargs)
        return core

    return build


def sqs_record(message: MessageTypeDef, trigger: SqsTrigger) -> dict[str, Any]:
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": message.get("MessageAttributes", {}),
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": trigger.queue_arn,
        "awsRegion": LOCAL_REGION,
    }


@dataclass
class Window:
    """What the mapping did since the metrics last looked (AWS/Lambda's view of a function)."""

    invocations: int = 0
    errors: int = 0
    peak_concurrency: int = 0
    durations_ms: list[float] = field(default_factory=list)


@dataclass
class Invocations:
    """Counts of what the mapping did, for tests, progress and the local service metrics."""

    invocations: int = 0
    errors: int = 0
    messages_deleted: int = 0
    in_flight: int = 0
    window: Window = field(default_factory=Window)
    oldest_age_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def started(self, messages: list[MessageTypeDef]) -> None:
        now_ms = time.time() * 1000.0
        self.started_at([float(m.get("Attributes", {}).get("SentTimestamp", now_ms)) for m in messages])

    def started_at(self, sent: list[float]) -> None:
        """An invocation started with messages sent at these times (epoch milliseconds)."""
        now_ms = time.time() * 1000.0
        with self.lock:
            self.in_flight += 1
            self.window.peak_concurrency = max(self.window.peak_concurrency, self.in_flight)
            self.oldest_age_s = max(self.oldest_age_s, (now_ms - min(sent, default=now_ms)) / 1000.0)

    def add(self, invocations: int = 0, errors: int = 0, deleted: int = 0, duration_s: float = 0.0) -> None:
        with self.lock:
            self.invocations += invocations
            self.errors += errors
            self.messages_deleted += deleted
            self.in_flight -= invocations
            self.window.invocations += invocations
            self.window.errors += errors
            if invocations:
                self.window.durations_ms.append(duration_s * 1000.0)

    def take(self) -> Window:
        with self.lock:
            taken, self.window = self.window, Window(peak_concurrency=self.in_flight)
            return taken

    def take_oldest_age(self) -> float:
        with self.lock:
            oldest, self.oldest_age_s = self.oldest_age_s, 0.0
            return oldest


class EventSource(Protocol):
    """A running local event source mapping, wherever its execution environments are."""

    stats: Invocations

    @property
    def queue_name(self) -> str: ...

    def start(self) -> None: ...

    def wait_ready(self) -> None: ...

    def begin_stop(self) -> None: ...

    def stop(self) -> None: ...


class LocalEventSource:
    def __init__(
        self,
        session: boto3.Session,
        function: LocalFunction,
        trigger: SqsTrigger,
        build_handler: Callable[[], Handler],
        concurrency: int,
        mapping_id: str | None = None,
        slots: Sequence[int] | None = None,
    ) -> None:
        self._session = session
        self._function = function
        self._trigger = trigger
        self._build_handler = build_handler
        self._concurrency = concurrency
        self._mapping_id = mapping_id
        # The execution environments this instance runs (all, unless they are spread over processes).
        self._slots = list(range(concurrency) if slots is None else slots)
        self._built = threading.Semaphore(0)
        # What the mapping's configuration allows now (fanout pause/resume/throttle change it).
        self._enabled = True
        self._allowed = concurrency
        self._stopping = threading.Event()
        # Invocations running now: stop waits for them, not for pollers waiting on a receive.
        self._invoking = 0
        self._invocations_changed = threading.Condition()
        self._threads: list[threading.Thread] = []
        # Lambda's pollers delete a finished batch while the environment takes its next one:
        # waiting for the delete here cost each environment a round trip per invocation.
        self._deleter = ThreadPoolExecutor(
            max_workers=max(1, len(self._slots)), thread_name_prefix=f"{function.logical_id}-delete"
        )
        self.stats = Invocations()

    def start(self) -> None:
        for n in self._slots:
            thread = threading.Thread(
                target=self._run, args=(n,), name=f"{self._function.logical_id}-{n}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        if self._mapping_id:
            control = threading.Thread(
                target=self._follow_mapping, name=f"{self._function.logical_id}-control", daemon=True
            )
            control.start()
            self._threads.append(control)

    def _follow_mapping(self) -> None:
        """Reads the mapping's configuration, as Lambda's pollers act on it."""
        assert self._mapping_id is not None
        with _BUILD_LOCK:
            lam = self._session.client("lambda")
        while not self._stopping.wait(CONTROL_POLL_S):
            try:
                mapping = lam.get_event_source_mapping(UUID=self._mapping_id)
            except (BotoCoreError, ClientError):
                if self._stopping.is_set():
                    return  # the stack went away as this source stopped
                raise
            self._enabled = mapping.get("State", "Enabled") not in ("Disabled", "Disabling")
            maximum = mapping.get("ScalingConfig", {}).get("MaximumConcurrency")
            self._allowed = min(self._concurrency, int(maximum)) if maximum else self._concurrency

    def wait_ready(self) -> None:
        """Until every poller has its client, and the first environment its handler."""
        for _ in self._slots:
            self._built.acquire()
        for _ in self._slots:
            self._built.release()

    def begin_stop(self) -> None:
        """No invocation starts from here on; `stop` waits for those running."""
        self._stopping.set()

    def stop(self) -> None:
        """Once the invocations running have ended and their messages are deleted.

        A poller waiting on a receive (up to POLL_WAIT_S) is not waited for: what it receives
        now is left for its visibility timeout, as when Lambda's pollers stop. Joining them cost
        every run a second at its end, for nothing.
        """
        with self._invocations_changed:
            self._stopping.set()
            while self._invoking:
                self._invocations_changed.wait()
        self._deleter.shutdown(wait=True)
        self._threads.clear()

    def _run(self, slot: int) -> None:
        # One environment here starts cold at once: a handler that cannot be built fails before
        # any file is dropped, and this process has the clients' service models loaded. The
        # others start when messages first come for them, as Lambda starts environments on
        # demand: a small file needs one, and each start costs tens of milliseconds of CPU.
        handler: Handler | None = None
        try:
            with _BUILD_LOCK:
                sqs = self._session.client("sqs")
                if slot == self._slots[0]:
                    handler = self._build_handler()
        finally:
            self._built.release()  # a cold start that failed is done too (its error is raised)
        while not self._stopping.is_set():
            if not self._enabled or slot >= self._allowed:
                self._stopping.wait(CONTROL_POLL_S)
                continue
            try:
                messages = self._receive(sqs)
            except (BotoCoreError, ClientError):
                if self._stopping.is_set():
                    return  # the stack went away while this poller waited, after stop
                raise
            if messages:
                handler = self._invoke_unless_stopping(sqs, handler, messages)
                if handler is None:
                    return

    def _invoke_unless_stopping(
        self, sqs: SQSClient, handler: Handler | None, messages: list[MessageTypeDef]
    ) -> Handler | None:
        """Invokes (after a cold start if the environment has none yet) and returns the warm
        handler; None, invoking nothing, once the source began to stop."""
        with self._invocations_changed:
            if self._stopping.is_set():
                return None
            self._invoking += 1
        try:
            if handler is None:
                with _BUILD_LOCK:
                    handler = self._build_handler()
            self._invoke(sqs, handler, messages)
        finally:
            with self._invocations_changed:
                self._invoking -= 1
                self._invocations_changed.notify_all()
        return handler

    def _receive(self, sqs: SQSClient) -> list[MessageTypeDef]:
        trigger = self._trigger
        batch: list[MessageTypeDef] = []
        window_ends = time.monotonic() + trigger.batching_window_s
        while len(batch) < trigger.batch_size and not self._stopping.is_set():
            response = sqs.receive_message(
                QueueUrl=trigger.queue_url,
                MaxNumberOfMessages=min(SQS_RECEIVE_MAX_MESSAGES, trigger.batch_size - len(batch)),
                WaitTimeSeconds=0 if batch else POLL_WAIT_S,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            received = response.get("Messages", [])
            batch.extend(received)
            if not received or time.monotonic() >= window_ends:
                break
        return batch

    @property
    def queue_name(self) -> str:
        return self._trigger.queue_name

    def _invoke(self, sqs: SQSClient, handler: Handler, messages: list[MessageTypeDef]) -> None:
        event = {"Records": [sqs_record(m, self._trigger) for m in messages]}
        context = LocalContext(self._function.logical_id, self._function.memory_mb, self._function.timeout_s)
        self.stats.started(messages)
        try:
            response = handler.handle(event, context)
        except Exception:
            # As on Lambda: the whole batch becomes visible again after the visibility timeout,
            # unless the function shortened it itself, as ours do (fanout/failures.py).
            log.exception("%s invocation failed", self._function.logical_id)
            self.stats.add(invocations=1, errors=1, duration_s=time.monotonic() - context.started)
            return
        duration_s = time.monotonic() - context.started
        failed = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
        done = [m for m in messages if m["MessageId"] not in failed]
        self._deleter.submit(self._delete, sqs, done, duration_s)

    def _delete(self, sqs: SQSClient, messages: list[MessageTypeDef], duration_s: float) -> None:
        try:
            self._delete_batches(sqs, messages)
        except Exception:
            # As when Lambda's poller fails to delete: the messages come back after the
            # visibility timeout, and the ledger skips the rows they had posted.
            log.exception("deleting %d messages after an invocation failed", len(messages))
            self.stats.add(invocations=1, duration_s=duration_s)
            return
        self.stats.add(invocations=1, deleted=len(messages), duration_s=duration_s)

    def _delete_batches(self, sqs: SQSClient, messages: list[MessageTypeDef]) -> None:
        for start in range(0, len(messages), SQS_DELETE_BATCH_MAX_ENTRIES):
            chunk = messages[start : start + SQS_DELETE_BATCH_MAX_ENTRIES]
            sqs.delete_message_batch(
                QueueUrl=self._trigger.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )


def concurrency_for(function: LocalFunction, trigger: SqsTrigger, requested: int | None) -> int:
    """The template's caps (reserved concurrency, the mapping's maximum), scaled down on request."""
    caps = [c for c in (function.reserved_concurrency, trigger.max_concurrency, requested) if c]
    return max(1, min(caps)) if caps else 1
