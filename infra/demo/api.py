"""A loopback API that takes 30-80 ms a call, like the one in the story, and counts what it saw.

Used by `fanout demo`, the tests and the benchmarks. `decide` lets a test answer some rows with
errors; GET /stats returns what arrived, so a separate process can be checked too.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import select
import signal
import socket
import struct
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

LOOPBACK = "127.0.0.1"
READY_PREFIX = "fanout-demo-api-ready "


@dataclass(frozen=True)
class Call:
    key: str
    payload: Any  # the JSON body (an object for the default request); None without a body
    attempt: int
    headers: dict[str, str] = field(default_factory=dict)
    path: str = "/"  # as the request line had it, query included
    body: bytes = b""  # as it arrived (what a signature covers)
    method: str = "POST"
    query: dict[str, str] = field(default_factory=dict)  # the path's query, decoded

    @property
    def route(self) -> str:
        """The path without its query."""
        return self.path.partition("?")[0]


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b'{"ok":true}'
    delay_s: float = 0.0  # extra time before answering (a stall past the client's timeout)
    reset: bool = False  # drop the connection instead of answering


Decide = Callable[[Call], Reply]


def always_ok(call: Call) -> Reply:
    return Reply()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024
    api: DemoApi


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return  # one line per request would drown everything else

    def do_GET(self) -> None:
        if self.path == "/stats":
            self._reply(Reply(body=json.dumps(self.server.api.stats()).encode()))
            return
        self._call()

    def do_POST(self) -> None:
        self._call()

    def do_PUT(self) -> None:
        self._call()

    def do_PATCH(self) -> None:
        self._call()

    def do_DELETE(self) -> None:
        self._call()

    def _call(self) -> None:
        """Any method and path (a request spec chooses them); a body, if any, must be JSON."""
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        api = self.server.api
        payload = None
        if raw:
            if self.headers.get("Content-Type") != "application/json":
                self._reply(Reply(415, body=b'{"error":"expected application/json"}'))
                return
            try:
                payload = json.loads(raw)
            except ValueError:
                self._reply(Reply(400, body=b'{"error":"body is not JSON"}'))
                return
        key = self.headers.get("Idempotency-Key", "")
        attempt = api.note_attempt(key)
        call = Call(
            key,
            payload,
            attempt,
            dict(self.headers.items()),
            self.path,
            raw,
            self.command,
            dict(parse_qsl(self.path.partition("?")[2])),
        )
        reply = api.decide(call)
        time.sleep(api.latency() + reply.delay_s)
        if reply.reset:
            self._reset()
            return
        if self._client_gone():
            # Its client gave up first (a stall past its timeout): the answer reaches no one, and a
            # success no one saw is not counted as one (`abandoned`), so what the tests count per
            # Idempotency-Key is what the client was told succeeded.
            api.note_abandoned()
            self.close_connection = True
            return
        if 200 <= reply.status < 300:
            api.note_success(call)
        self._reply(reply)

    def _client_gone(self) -> bool:
        """The client closed the connection: readable, with nothing to read."""
        readable, _, _ = select.select([self.connection], [], [], 0)
        if not readable:
            return False
        try:
            peeked: bytes = self.connection.recv(1, socket.MSG_PEEK)
            return peeked == b""
        except OSError:
            return True

    def _reset(self) -> None:
        """Closes the connection with a TCP reset, as a crashed or overloaded server would."""
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()

    def _reply(self, reply: Reply) -> None:
        try:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up first (its timeout): there is no one left to answer.
            self.close_connection = True


class DemoApi:
    def __init__(
        self,
        latency_s: tuple[float, float] = (0.03, 0.08),
        decide: Decide = always_ok,
        port: int = 0,
        keep_payloads: bool = False,
    ) -> None:
        self._latency = latency_s
        self.decide = decide
        self._keep_payloads = keep_payloads
        self._lock = threading.Lock()
        self.attempts: Counter[str] = Counter()
        self.successes: Counter[str] = Counter()
        self.abandoned = 0  # answers ready after their client had hung up
        self.payloads: dict[str, Any] = {}
        self.calls: dict[str, Call] = {}  # the last successful call for each key, with keep_payloads
        self._server = _Server((LOOPBACK, port), _Handler)
        self._server.api = self
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self._server.server_address[1]}/rows"

    def latency(self) -> float:
        low, high = self._latency
        return random.uniform(low, high) if high > low else low

    def note_attempt(self, key: str) -> int:
        with self._lock:
            self.attempts[key] += 1
            return self.attempts[key]

    def note_abandoned(self) -> None:
        with self._lock:
            self.abandoned += 1

    def note_success(self, call: Call) -> None:
        with self._lock:
            self.successes[call.key] += 1
            if self._keep_payloads:
                self.payloads[call.key] = call.payload
                self.calls[call.key] = call

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {
                "calls": sum(self.attempts.values()),
                "rows_accepted": len(self.successes),
                "duplicates": sum(n - 1 for n in self.successes.values()),
            }

    def __enter__(self) -> DemoApi:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever, name="demo-api", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A loopback API that takes 30-80 ms a call.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-ms", type=float, nargs=2, default=(30.0, 80.0), metavar=("MIN", "MAX"))
    args = parser.parse_args(argv)
    api = DemoApi((args.latency_ms[0] / 1000, args.latency_ms[1] / 1000), port=args.port)
    api.start()
    print(f"{READY_PREFIX}{api.url}", flush=True)
    if not sys.stdin.isatty():
        # Started by `fanout demo` (our stdin is its pipe): Ctrl-C reaches the whole process
        # group, and the parent stops us once its workers are done.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(KeyboardInterrupt):
        sys.stdin.read()  # runs until the parent closes our stdin (or Ctrl-C, run on its own)
    api.stop()


if __name__ == "__main__":
    main()
