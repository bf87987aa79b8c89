"""An HTTP proxy on loopback in front of the emulator that breaks chosen responses.

The functions' clients reach one service through it (AWS_ENDPOINT_URL_<SERVICE>), so the
failures they meet are real ones on a real connection: a body cut off mid-stream, or an error
answer, for the requests a rule picks, as many times as it says.
"""

from __future__ import annotations

import http.client
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class Rule:
    """Requests `matches` picks are broken `times` times: the body cut after `cut_after`
    bytes (the connection then closed), or, with `status`, answered with that error."""

    matches: Callable[[Seen], bool]
    times: int
    cut_after: int = 0
    status: int = 0
    body: bytes = b""
    used: int = 0


@dataclass
class FaultyProxy:
    upstream: str
    rules: list[Rule] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def rule_for(self, request: Seen) -> Rule | None:
        with self.lock:
            self.seen.append(request)
            for rule in self.rules:
                if rule.used < rule.times and rule.matches(request):
                    rule.used += 1
                    return rule
        return None


def _handler(proxy: FaultyProxy) -> type[BaseHTTPRequestHandler]:
    target = urlsplit(proxy.upstream)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            payload = self.rfile.read(length) if length else None
            request = Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()})
            rule = proxy.rule_for(request)
            if rule is not None and rule.status:
                self._answer(rule.status, {"Content-Type": "application/xml"}, rule.body)
                return
            upstream = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port, timeout=30)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                upstream.request(self.command, self.path, body=payload, headers=headers)
                response = upstream.getresponse()
                body = response.read()
                # A HEAD answer has no body but the object's Content-Length, which is kept.
                dropped = HOP_BY_HOP - ({"content-length"} if self.command == "HEAD" else set())
                kept = {k: v for k, v in response.getheaders() if k.lower() not in dropped}
            finally:
                upstream.close()
            if rule is not None:
                self._cut(response.status, kept, body, rule.cut_after)
            else:
                self._answer(response.status, kept, body)

        def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if self.command != "HEAD":
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _cut(self, status: int, headers: dict[str, str], body: bytes, cut_after: int) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[:cut_after])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)

        do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _forward

    return Handler


@contextmanager
def faulty_proxy(upstream: str) -> Iterator[FaultyProxy]:
    proxy = FaultyProxy(upstream)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(proxy))
    server.daemon_threads = True
    proxy.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="faulty-proxy", daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
