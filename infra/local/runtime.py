"""The template's functions running on one machine, fed by local event source mappings."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import boto3

from infra.local.cpus import DEFAULT_PROCESSES
from infra.local.environment_processes import MappingSpec, ProcessEventSource
from infra.local.event_source import EventSource, LocalEventSource, concurrency_for, handler_factory
from infra.local.metrics import BackgroundSink, CloudWatchSink, ServiceMetrics
from infra.local.stack import LocalFunction, LocalStack, SqsTrigger

# How often the splitter looks at the work queue's depth while it is holding back.
PACE_POLL_S = 0.2


class QueueDepthPacer:
    """Holds the splitter back while the work queue is deep.

    The emulator's SQS calls cost time in proportion to the queue's depth, so locally the
    queue is kept shallow; on AWS the splitter runs unpaced.
    """

    def __init__(self, session: boto3.Session, queue_url: str, limit: int, stopping: threading.Event) -> None:
        self._sqs = session.client("sqs")
        self._queue_url = queue_url
        self._limit = limit
        self._stopping = stopping

    def __call__(self) -> None:
        while not self._stopping.is_set() and self._depth() > self._limit:
            time.sleep(PACE_POLL_S)

    def _depth(self) -> int:
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=self._queue_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return int(attributes.get("ApproximateNumberOfMessages", "0"))


class LocalRuntime:
    def __init__(
        self,
        session: boto3.Session,
        stack: LocalStack,
        concurrency: int | None,
        processes: int = DEFAULT_PROCESSES,
    ) -> None:
        """`processes` above 1 spreads the workers' execution environments over that many
        child processes (the splitter, which is light, stays in this one)."""
        self._session = session
        self._stack = stack
        self._concurrency = concurrency
        self._processes = processes
        self._stopping = threading.Event()
        self.sources: dict[str, EventSource] = {}
        self._service_metrics: ServiceMetrics | None = None
        self._metrics_sink: BackgroundSink | None = None

    def start(self) -> None:
        """Starts every function's environments and waits until they are ready."""
        self.launch()
        self.wait_ready()

    def launch(self) -> None:
        """Starts every function's environments without waiting for them (`wait_ready` does):
        messages sent meanwhile wait in their queues, as on Lambda while environments start."""
        messages_held = self._worker_messages_held()
        # Sources in processes first, while this process has one thread: their children are
        # forked then (infra/local/environment_processes.py). The handlers' metrics reach the
        # emulator's CloudWatch, as their EMF output would on AWS.
        sink: BackgroundSink | None = None
        for function in sorted(self._stack.functions.values(), key=self._in_process):
            if sink is None and self._in_process(function):
                sink = self._metrics_sink = BackgroundSink(CloudWatchSink(self._session.client("cloudwatch")))
            kwargs: dict[str, Any] = {"session": self._session, "metrics_sink": sink}
            if "WORK_QUEUE_URL" in function.environment and function.handler.startswith("splitter."):
                kwargs["before_send"] = QueueDepthPacer(
                    self._session,
                    function.environment["WORK_QUEUE_URL"],
                    messages_held * 2,
                    self._stopping,
                )
            for trigger in function.triggers:
                source = self._event_source(function, trigger, kwargs)
                source.start()
                self.sources[function.logical_id] = source
        self._service_metrics = ServiceMetrics(
            self._session,
            self._stack.queues,
            {self._stack.functions[lid].name: source for lid, source in self.sources.items()},
        )
        self._service_metrics.start()

    def wait_ready(self) -> None:
        """Until every environment that starts at once has its handler; fails if one cannot."""
        for source in self.sources.values():
            source.wait_ready()

    def _in_process(self, function: LocalFunction) -> bool:
        """Whether the function's environments run in this process (else in child processes)."""
        return not (function.reserved_concurrency and self._processes > 1)

    def _event_source(
        self, function: LocalFunction, trigger: SqsTrigger, handler_kwargs: dict[str, Any]
    ) -> EventSource:
        requested = self._concurrency if function.reserved_concurrency else None
        concurrency = concurrency_for(function, trigger, requested)
        mapping_id = self._stack.mappings.get((function.logical_id, trigger.queue_arn))
        if not self._in_process(function):
            endpoint_url = self._session.client("sqs").meta.endpoint_url
            log_level = logging.getLogger().getEffectiveLevel()
            spec = MappingSpec(endpoint_url, function, trigger, concurrency, mapping_id, log_level)
            return ProcessEventSource(spec, self._processes)
        build = handler_factory(function, **handler_kwargs)
        return LocalEventSource(self._session, function, trigger, build, concurrency, mapping_id)

    def _worker_messages_held(self) -> int:
        """Messages the workers can hold at once: the depth worth keeping ahead of them."""
        held = 0
        for function in self._stack.functions.values():
            for trigger in function.triggers:
                if function.reserved_concurrency:
                    held += concurrency_for(function, trigger, self._concurrency) * trigger.batch_size
        return max(held, 10)

    def stop(self) -> None:
        self._stopping.set()
        # All told first, so that they stop at once rather than one after another.
        for source in self.sources.values():
            source.begin_stop()
        for source in self.sources.values():
            source.stop()
        if self._metrics_sink is not None:
            self._metrics_sink.close()
        if self._service_metrics is not None:
            self._service_metrics.stop()

    def __enter__(self) -> LocalRuntime:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
