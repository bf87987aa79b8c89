"""The template's functions running on one machine, fed by local event source mappings."""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import boto3
import botocore.session
from botocore.config import Config

from infra.event_source import LocalEventSource, concurrency_for, handler_factory
from infra.local_metrics import CloudWatchSink, ServiceMetrics
from infra.local_stack import LOCAL_REGION, LocalStack

# Credentials for the emulator: it accepts any, and real ones must never reach it.
EMULATOR_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "fanout-local",
    "AWS_SECRET_ACCESS_KEY": "fanout-local",
}
# How often the splitter looks at the work queue's depth while it is holding back.
PACE_POLL_S = 0.2
# The emulator answers in milliseconds (its longest call is a 1 s poll): a call that hangs on a
# busy machine is tried again after seconds, not after botocore's default 60 s read timeout.
EMULATOR_CLIENT_CONFIG = Config(
    connect_timeout=5, read_timeout=20, retries={"max_attempts": 5, "mode": "standard"}
)


def use_endpoint(endpoint_url: str) -> boto3.Session:
    """Points every AWS client this process makes at `endpoint_url` (the standard variable)."""
    os.environ["AWS_ENDPOINT_URL"] = endpoint_url
    os.environ.setdefault("AWS_DEFAULT_REGION", LOCAL_REGION)
    core = botocore.session.Session()
    if endpoint_is_loopback(endpoint_url):
        os.environ.update(EMULATOR_CREDENTIALS)
        core.set_default_client_config(EMULATOR_CLIENT_CONFIG)
    return boto3.Session(region_name=os.environ["AWS_DEFAULT_REGION"], botocore_session=core)


def endpoint_is_loopback(endpoint_url: str) -> bool:
    return any(host in endpoint_url for host in ("://127.", "://localhost", "://[::1]"))


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
    def __init__(self, session: boto3.Session, stack: LocalStack, concurrency: int | None) -> None:
        self._session = session
        self._stack = stack
        self._concurrency = concurrency
        self._stopping = threading.Event()
        self.sources: dict[str, LocalEventSource] = {}
        self._service_metrics: ServiceMetrics | None = None

    def start(self) -> None:
        worker_slots = self._worker_slots()
        # The handlers' metrics reach the emulator's CloudWatch, as their EMF output would on AWS.
        sink = CloudWatchSink(self._session.client("cloudwatch"))
        for function in self._stack.functions.values():
            kwargs: dict[str, Any] = {"session": self._session, "metrics_sink": sink}
            if "WORK_QUEUE_URL" in function.environment and function.handler.startswith("splitter."):
                kwargs["before_send"] = QueueDepthPacer(
                    self._session,
                    function.environment["WORK_QUEUE_URL"],
                    worker_slots * 2,
                    self._stopping,
                )
            for trigger in function.triggers:
                requested = self._concurrency if function.reserved_concurrency else None
                source = LocalEventSource(
                    self._session,
                    function,
                    trigger,
                    handler_factory(function, **kwargs),
                    concurrency_for(function, trigger, requested),
                    self._stack.mappings.get((function.logical_id, trigger.queue_arn)),
                )
                source.start()
                self.sources[function.logical_id] = source
        self._service_metrics = ServiceMetrics(
            self._session,
            self._stack.queues,
            {self._stack.functions[lid].name: source for lid, source in self.sources.items()},
        )
        self._service_metrics.start()

    def _worker_slots(self) -> int:
        """Messages the workers can hold at once: the depth worth keeping ahead of them."""
        slots = 0
        for function in self._stack.functions.values():
            for trigger in function.triggers:
                if function.reserved_concurrency:
                    slots += concurrency_for(function, trigger, self._concurrency) * trigger.batch_size
        return max(slots, 10)

    def stop(self) -> None:
        self._stopping.set()
        for source in self.sources.values():
            source.stop()
        if self._service_metrics is not None:
            self._service_metrics.stop()

    def __enter__(self) -> LocalRuntime:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
