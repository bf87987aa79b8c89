"""The benchmarks' loopback API: an asyncio HTTP/1.1 server with a configurable latency.

The demo API (infra/demo/api.py) spends a thread and about a millisecond of CPU per call; on a
machine with two shared cores that alone caps a run well below C / L. This server waits out the
latency on the event loop and parses only what a row POST needs, so the CPU it takes stays small
next to the clients it measures. It runs in its own process (`python -m bench.api`) and answers
GET /stats with what it saw, so the benchmark can check every row arrived exactly once.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sys
import threading
from collections import Counter

from bench.limited_api import RETRY_AFTER_S, Limiter, limiter
from infra.demo.api import READY_PREFIX

LOOPBACK = "127.0.0.1"
MAX_HEADER_BYTES = 64 * 1024

_OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n" + b'{"ok":true}'
_BAD = (
    b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
    b"Connection: close\r\n\r\n{}"
)
_TOO_MANY = (
    b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nRetry-After: "
    + RETRY_AFTER_S.encode()
    + b"\r\nContent-Length: 2\r\n\r\n{}"
)


class Counts:
    def __init__(self, limit: Limiter | None = None) -> None:
        self.calls = 0
        self.connections = 0
        self.successes: Counter[str] = Counter()
        # Answers ready after their client had hung up (its call timed out, or the row was handed
        # back as a straggler): no one saw the success, so it is not counted as one, as in
        # infra/demo/api.py; "duplicates" then means Fanout was told twice.
        self.abandoned = 0
        self.limit = limit  # calls beyond it are answered 429 with Retry-After
        self.refused = 0
        self.admitted_at: list[float] = []  # with a limit: when each admitted call arrived

    def stats(self) -> dict[str, object]:
        stats: dict[str, object] = {
            "calls": self.calls,
            "connections": self.connections,
            "rows_accepted": len(self.successes),
            "duplicates": sum(n - 1 for n in self.successes.values()),
            "abandoned": self.abandoned,
        }
        if self.limit is not None:
            stats |= {"refused": self.refused, "admitted_at": self.admitted_at}
        return stats


class Latency:
    """Fixed when low == high, otherwise uniform in [low, high] seconds."""

    def __init__(self, low_s: float, high_s: float) -> None:
        self._low = low_s
        self._high = high_s

    def __call__(self) -> float:
        return random.uniform(self._low, self._high) if self._high > self._low else self._low


class _Connection(asyncio.Protocol):
    def __init__(self, counts: Counts, latency: Latency) -> None:
        self._counts = counts
        self._latency = latency
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._counts.connections += 1

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while self._transport is not None:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > MAX_HEADER_BYTES:
                    self._reply_and_close(_BAD)
                return
            head = self._buffer[:end].decode("latin-1")
            request_line, _, header_text = head.partition("\r\n")
            headers = _headers(header_text)
            length = int(headers.get("content-length", "0"))
            if len(self._buffer) < end + 4 + length:
                return
            body = self._buffer[end + 4 : end + 4 + length]
            self._buffer = self._buffer[end + 4 + length :]
            self._request(request_line, headers, body)

    def _request(self, request_line: str, headers: dict[str, str], body: bytes) -> None:
        if request_line.startswith("GET /stats"):
            stats = json.dumps(self._counts.stats()).encode()
            self._send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(stats), stats))
            return
        self._counts.calls += 1
        try:
            if not isinstance(json.loads(body), dict):
                raise ValueError("not an object")
        except ValueError:
            self._reply_and_close(_BAD)
            return
        key = headers.get("idempotency-key", "")
        close = headers.get("connection", "").lower() == "close"
        if self._counts.limit is not None:
            now = asyncio.get_running_loop().time()
            if not self._counts.limit.admit(now):
                self._counts.refused += 1
                self._send(_TOO_MANY)
                return
            self._counts.admitted_at.append(now)
        asyncio.get_running_loop().call_later(self._latency(), self._answer, key, close)

    def _answer(self, key: str, close: bool) -> None:
        if self._transport is None or self._transport.is_closing():
            self._counts.abandoned += 1
            return
        self._counts.successes[key] += 1
        if close:
            self._reply_and_close(_OK)
        else:
            self._send(_OK)

    def _send(self, data: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def _reply_and_close(self, data: bytes) -> None:
        self._send(data)
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None


def _headers(text: str) -> dict[str, str]:
    headers = {}
    for line in text.split("\r\n"):
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return headers


async def _serve(latency: Latency, port: int, limit: Limiter | None = None) -> None:
    counts = Counts(limit)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: _Connection(counts, latency), LOOPBACK, port, backlog=4096, reuse_address=True
    )
    bound = server.sockets[0].getsockname()[1]
    print(f"{READY_PREFIX}http://{LOOPBACK}:{bound}/rows", flush=True)
    # The parent holds our stdin open: when it goes, for whatever reason, so do we.
    stdin_closed = loop.create_future()
    threading.Thread(target=_wait_stdin, args=(loop, stdin_closed), daemon=True).start()
    async with server:
        await stdin_closed


def _wait_stdin(loop: asyncio.AbstractEventLoop, done: asyncio.Future[None]) -> None:
    with contextlib.suppress(Exception):
        sys.stdin.read()

    def finish() -> None:
        if not done.done():
            done.set_result(None)

    loop.call_soon_threadsafe(finish)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A loopback API with a fixed or uniform latency.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-ms", type=float, nargs=2, default=(50.0, 50.0), metavar=("MIN", "MAX"))
    parser.add_argument(
        "--limit",
        metavar="KIND:R",
        help="answer 429 (Retry-After: 1) beyond R calls a second: bucket (a token bucket, burst R) "
        "or window (any sliding second)",
    )
    args = parser.parse_args(argv)
    low, high = args.latency_ms
    limit = None
    if args.limit:
        kind, _, rate = args.limit.partition(":")
        limit = limiter(kind, float(rate))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(Latency(low / 1000, high / 1000), args.port, limit))


if __name__ == "__main__":
    main()
