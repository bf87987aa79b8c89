"""The embedded AWS emulator (moto's server) in a child process on a free loopback port.

A separate process keeps the emulator's request handling off the interpreter that runs the
handlers' threads.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import threading
import time
from types import TracebackType
from typing import Any

from fanout.errors import FanoutError

LOOPBACK = "127.0.0.1"
READY_PREFIX = "fanout-emulator-ready "
START_TIMEOUT_S = 60.0


class Emulator:
    """Starts on enter, stops on exit; `endpoint_url` is where boto3 should point."""

    def __init__(self, port: int = 0) -> None:
        self._port = port
        self._process: subprocess.Popen[str] | None = None
        self.endpoint_url = ""

    def __enter__(self) -> Emulator:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "infra.emulator", "--port", str(self._port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert self._process.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        line = self._process.stdout.readline()
        if not line.startswith(READY_PREFIX) or time.monotonic() > deadline:
            self.stop()
            raise FanoutError(f"the AWS emulator did not start (port {self._port})")
        self.endpoint_url = f"http://{LOOPBACK}:{int(line[len(READY_PREFIX) :])}"

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None


def _serialize_dynamodb_writes() -> None:
    """One lock around the emulator's DynamoDB writes.

    moto's TransactWriteItems snapshots whole tables and, when a condition fails, puts the
    snapshots back, which silently undoes writes other threads made meanwhile (measured: job
    counters lost under 16 concurrent transactions). DynamoDB isolates transactions from other
    writes; serializing the emulator's writes gives the same guarantee on one machine.
    """
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()
    for name in ("transact_write_items", "update_item", "put_item", "delete_item"):
        original = getattr(DynamoDBBackend, name)

        def locked(self: object, *args: object, _original: Any = original, **kwargs: object) -> Any:
            with lock:
                return _original(self, *args, **kwargs)

        setattr(DynamoDBBackend, name, locked)


def _serialize_sqs_receives() -> None:
    """One lock around the emulator's SQS receives, deletes and visibility changes.

    moto's ReceiveMessage checks that a message is visible and then marks it received with no
    lock between, so two pollers can both get the same message (seen: rows posted twice by
    concurrent invocations). The long-poll wait happens outside the lock, so one waiting poller
    does not hold up the others.
    """
    from moto.sqs.models import SQSBackend

    lock = threading.RLock()
    receive = SQSBackend.receive_message

    def locked_receive(
        self: Any, queue_name: str, count: int, wait_seconds_timeout: int, visibility_timeout: int, *args: Any
    ) -> Any:
        deadline = time.monotonic() + wait_seconds_timeout
        while True:
            with lock:
                messages = receive(self, queue_name, count, 0, visibility_timeout, *args)
            remaining = deadline - time.monotonic()
            if messages or remaining <= 0:
                return messages
            self.get_queue(queue_name).wait_for_messages(min(remaining, 1.0))

    setattr(SQSBackend, "receive_message", locked_receive)  # noqa: B010
    for name in ("delete_message", "change_message_visibility"):
        original = getattr(SQSBackend, name)

        def locked(self: object, *args: object, _original: Any = original, **kwargs: object) -> Any:
            with lock:
                return _original(self, *args, **kwargs)

        setattr(SQSBackend, name, locked)


def _event_source_mappings_as_configuration() -> None:
    """Event source mappings kept as configuration only: the local runtime polls the queues.

    moto would otherwise invoke the function itself on every SendMessage (through Docker, which
    does not run here). The mapping's settings (Enabled, ScalingConfig, BatchSize) stay readable
    and updatable through the Lambda API, which is how `fanout pause/resume/throttle` reach the
    local stack as they reach AWS.
    """
    from moto.awslambda.models import LambdaBackend
    from moto.sqs.models import sqs_backends

    create = LambdaBackend.create_event_source_mapping

    def create_detached(self: Any, spec: dict[str, Any]) -> Any:
        mapping = create(self, spec)
        for queue in sqs_backends[self.account_id][self.region_name].queues.values():
            queue.lambda_event_source_mappings.pop(mapping.function_arn, None)
        return mapping

    setattr(LambdaBackend, "create_event_source_mapping", create_detached)  # noqa: B010


def _serve(port: int) -> None:
    from moto.server import ThreadedMotoServer

    _serialize_dynamodb_writes()
    _serialize_sqs_receives()
    _event_source_mappings_as_configuration()
    server = ThreadedMotoServer(ip_address=LOOPBACK, port=port, verbose=False)
    server.start()
    _, bound = server.get_host_and_port()
    print(f"{READY_PREFIX}{bound}", flush=True)
    # The parent holds our stdin open: when it goes, for whatever reason, so do we.
    with contextlib.suppress(KeyboardInterrupt):
        sys.stdin.read()
    server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Run the embedded AWS emulator.")
    parser.add_argument("--port", type=int, default=0)
    _serve(parser.parse_args().port)
