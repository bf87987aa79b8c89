"""A local event source mapping whose execution environments run in child processes.

On Lambda every execution environment is a process of its own. Run as threads of one process,
the local environments share one interpreter lock: at 64 calls in flight that process used
85% of a core, and its posting threads queued for the lock rather than for the API
(bench/README.md). Here each child process runs a share of the mapping's environments (a
`LocalEventSource` for its slots), sends its invocation counts and log records back, and the
parent presents them as one mapping to the metrics and the progress display.

The children are forked while the parent still has a single thread (the CLI does so before it
starts any): a fork has the parent's modules already imported and its service models loaded,
where a spawned child spent about a second of CPU importing them again (half the CPU of a
one-row `fanout run`). Each child is still a process of its own with its own interpreter. A
parent that already runs threads (a test with an API server in it) spawns them instead: a fork
could inherit a lock another thread holds.
"""

from __future__ import annotations

import logging
import logging.handlers
import multiprocessing
import os
import signal
import threading
import time
from dataclasses import dataclass
from multiprocessing.context import ForkContext, SpawnContext
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from typing import Any

from fanout.errors import FanoutError
from infra.local.allocator import limit_arenas
from infra.local.endpoint import use_endpoint
from infra.local.event_source import Invocations, LocalEventSource, handler_factory, handler_module
from infra.local.metrics import BackgroundSink, CloudWatchSink
from infra.local.stack import LocalFunction, SqsTrigger

log = logging.getLogger("fanout.local")

# A child's cold start: the handler's clients, and when spawned an interpreter and boto3 (about
# 2 s of CPU here, under load).
READY_TIMEOUT_S = 120.0
READY_CHECK_S = 0.2
# After stop, environments finish the invocation they are in; past this they are terminated.
STOP_TIMEOUT_S = 60.0
# How often a child looks for the parent's stop and checks that its parent is still there (a
# killed CLI leaves no orphans). It polls the Event rather than waiting on it: a child killed
# while it waited (SIGTERM to the whole process group) left the Event's condition expecting it
# to wake, and the parent's `set` then blocked for ever.
STOP_CHECK_S = 0.05
# A worker process's exit status when it stopped because its parent had gone.
PARENT_GONE_EXIT = 70

_READY = "ready"
_STARTED = "started"
_ADDED = "added"


@dataclass(frozen=True)
class MappingSpec:
    """What a child process needs to run its environments: all plain, picklable data."""

    endpoint_url: str
    function: LocalFunction
    trigger: SqsTrigger
    concurrency: int
    mapping_id: str | None
    log_level: int


class ForwardedInvocations(Invocations):
    """In a child process: each count goes to the parent's `Invocations`."""

    def __init__(self, events: Queue[tuple[str, Any]]) -> None:
        super().__init__()
        self._events = events

    def started_at(self, sent: list[float]) -> None:
        self._events.put((_STARTED, sent))

    def add(self, invocations: int = 0, errors: int = 0, deleted: int = 0, duration_s: float = 0.0) -> None:
        counts = {"invocations": invocations, "errors": errors, "deleted": deleted, "duration_s": duration_s}
        self._events.put((_ADDED, counts))


def start_context() -> ForkContext | SpawnContext:
    """fork while this process has one thread, else spawn (see the module's docstring)."""
    if threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def slots_of(process: int, processes: int, concurrency: int) -> list[int]:
    """Environments 0, P, 2P... go to the first process: a lowered maximum concurrency
    (`fanout throttle`) still leaves work in every process."""
    return list(range(process, concurrency, processes))


class ProcessEventSource:
    """The same interface as `LocalEventSource` (start, wait_ready, stop, stats), in processes."""

    def __init__(self, spec: MappingSpec, processes: int) -> None:
        self._spec = spec
        self._processes = max(1, min(processes, spec.concurrency))
        self._context = start_context()
        self._events: Queue[tuple[str, Any]] = self._context.Queue()
        self._logs: Queue[logging.LogRecord] = self._context.Queue()
        self._stopping = self._context.Event()
        self._children: list[BaseProcess] = []
        self._ready = 0
        self._ready_changed = threading.Condition()
        self._relay = threading.Thread(target=self._relay_events, name="environments-relay", daemon=True)
        self._log_listener = logging.handlers.QueueListener(
            self._logs, *logging.getLogger().handlers, respect_handler_level=True
        )
        self.stats = Invocations()

    @property
    def queue_name(self) -> str:
        return self._spec.trigger.queue_name

    def start(self) -> None:
        """Starts the children first and this source's own threads after (see `start_context`)."""
        name = self._spec.function.logical_id
        if self._context.get_start_method() == "fork":
            handler_module(self._spec.function)  # imported once here rather than in every child
        for n in range(self._processes):
            slots = slots_of(n, self._processes, self._spec.concurrency)
            child = self._context.Process(
                target=serve_environments,
                args=(self._spec, slots, self._events, self._logs, self._stopping),
                name=f"{name}-environments-{n}",
                daemon=True,
            )
            child.start()
            self._children.append(child)
        self._log_listener.start()
        self._relay.start()

    def wait_ready(self) -> None:
        """Until every child has built its environments' handlers; fails as soon as one died."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        with self._ready_changed:
            # A child that dies sends nothing: look at the children between notifications too.
            while self._ready < len(self._children):
                if time.monotonic() > deadline or any(not c.is_alive() for c in self._children):
                    raise FanoutError(
                        f"{self._spec.function.logical_id}: local execution environments did not start"
                    )
                self._ready_changed.wait(READY_CHECK_S)

    def begin_stop(self) -> None:
        """Tells the children to stop; `stop` waits for them."""
        self._stopping.set()

    def stop(self) -> None:
        self._stopping.set()
        for child in self._children:
            child.join(STOP_TIMEOUT_S)
            if child.is_alive():
                child.terminate()
                child.join()
        killed = [c.name for c in self._children if c.exitcode is None or c.exitcode < 0]
        self._children.clear()
        if killed:
            # A child ended by a signal (SIGTERM to the whole process group) may have died holding
            # a queue's shared write lock or half way through a message: a sentinel put after it
            # would wait for ever, and so would the relay reading. Its last counts are given up.
            log.warning("stopped without their last counts: %s ended by a signal", ", ".join(killed))
            self._events.cancel_join_thread()
            self._logs.cancel_join_thread()
            return
        self._events.put(("", None))  # ends the relay once the children's counts are in
        self._relay.join()
        self._log_listener.stop()

    def _relay_events(self) -> None:
        while True:
            kind, value = self._events.get()
            if kind == _STARTED:
                self.stats.started_at(value)
            elif kind == _ADDED:
                self.stats.add(**value)
            elif kind == _READY:
                with self._ready_changed:
                    self._ready += 1
                    self._ready_changed.notify_all()
            else:
                return


def serve_environments(
    spec: MappingSpec,
    slots: list[int],
    events: Queue[tuple[str, Any]],
    logs: Queue[logging.LogRecord],
    stopping: Event,
) -> None:
    """A child process: its environments poll, invoke and delete until the parent says stop."""
    # Ctrl-C reaches the whole process group: the parent alone decides, and stops us cleanly.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A forked child has the CLI's SIGTERM handler (it raises KeyboardInterrupt, for the CLI's
    # clean stop); here SIGTERM ends the process at once, as it did a spawned child.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    limit_arenas()  # a spawned child's own; a forked one has its parent's already
    root = logging.getLogger()
    root.handlers[:] = [logging.handlers.QueueHandler(logs)]
    root.setLevel(spec.log_level)
    session = use_endpoint(spec.endpoint_url)
    sink = BackgroundSink(CloudWatchSink(session.client("cloudwatch")))
    source = LocalEventSource(
        session,
        spec.function,
        spec.trigger,
        handler_factory(spec.function, session=session, metrics_sink=sink),
        spec.concurrency,
        spec.mapping_id,
        slots,
    )
    source.stats = ForwardedInvocations(events)
    source.start()
    source.wait_ready()
    events.put((_READY, os.getpid()))
    parent = multiprocessing.parent_process()
    while not stopping.is_set():
        time.sleep(STOP_CHECK_S)
        if parent is not None and not parent.is_alive():
            # The CLI was killed outright and the emulator it started went with it: a graceful
            # stop would wait out invocations whose every call now fails and is retried (seen:
            # minutes). Stop as a killed Lambda environment does; SQS redelivers what was not
            # deleted, and a row posted again carries the same Idempotency-Key.
            os._exit(PARENT_GONE_EXIT)
    source.stop()
    sink.close()
