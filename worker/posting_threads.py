"""The worker's posting threads: a fixed set of threads taking actions from one queue.

Not a ThreadPoolExecutor: its submit makes a Future (a Condition and an RLock) and takes a
semaphore for every action, and Delivery reads no action's Future (each row's result has a
slot of its own, worker/delivery.py): that was 3 % of a worker's on-CPU samples at C = 64
(bench/README.md), paid once per call.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import TypeVar

log = logging.getLogger("fanout.worker")

T = TypeVar("T")


class PostingThreads:
    def __init__(self, threads: int, name: str = "post") -> None:
        self._threads = max(1, threads)
        self._name = name
        self._actions: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._started = False
        self._lock = threading.Lock()

    def submit(self, action: Callable[[T], None], arg: T) -> None:
        """Runs action(arg) on the next free thread (the threads start on first use)."""
        if not self._started:
            self._start()
        self._actions.put(lambda: action(arg))

    def _start(self) -> None:
        with self._lock:
            if self._started:
                return
            for n in range(self._threads):
                name = f"{self._name}_{n}"
                threading.Thread(target=self._run, name=name, daemon=True).start()
            self._started = True

    def _run(self) -> None:
        while True:
            action = self._actions.get()
            try:
                action()
            except Exception:
                # An action's own failures are its rows' results; what reaches here is a bug.
                # Logged with its traceback, and the thread goes on serving the others.
                log.exception("posting thread: an action raised")
