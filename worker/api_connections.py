"""The API's connections: one kept-alive HTTP/1.1 connection per posting thread.

Calls go through the standard library's http.client, the layer under urllib3, itself the
transport under `requests`. Measured in bench/ (bench/README.md): a call through a urllib3 pool
took about twice the CPU of the same call through http.client (Timeout and Retry objects,
header dictionaries and response wrappers on every call), and a `requests.Session` more still;
the worker's CPU per row decides how many rows an execution environment posts at once. What a
call sends and how its errors read stays the contract of worker/poster.py.
"""

from __future__ import annotations

import http.client
import select
import socket
import ssl
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from urllib.parse import urlsplit

from fanout.errors import ConfigError

USER_AGENT = "fanout-worker"
# What a call reads of an answer's body: the request spec's capture looks into it (a JSON body
# cut here is no longer JSON, and captures nothing) and the DLQ keeps an excerpt of it; an API
# answering a row with more is not sending a record's reply, and the worker's memory stays bounded.
MAX_RESPONSE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Response:
    status: int
    headers: http.client.HTTPMessage  # looked up by name, case-insensitively
    body: bytes


class ApiConnections:
    """POSTs to one URL; each thread keeps its own connection open between calls."""

    def __init__(self, url: str, timeout_s: float) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"API_URL must be http(s)://host/...: {url!r}")
        self.timeout_s = timeout_s
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.url = f"{parts.scheme}://{parts.netloc}{self.path}"  # what a signature covers
        # The timeout bounds the connect and every read and write, as urllib3's did.
        self._open: Callable[[], http.client.HTTPConnection]
        if parts.scheme == "https":
            self._open = partial(
                http.client.HTTPSConnection,
                parts.hostname,
                parts.port,
                timeout=timeout_s,
                context=ssl.create_default_context(),
            )
        else:
            self._open = partial(http.client.HTTPConnection, parts.hostname, parts.port, timeout=timeout_s)
        self._local = threading.local()

    def post(self, body: bytes, headers: Mapping[str, str]) -> Response:
        """One call, its answer read whole. Raises OSError or http.client.HTTPException."""
        connection = self._connection()
        try:
            connection.request("POST", self.path, body=body, headers={"User-Agent": USER_AGENT, **headers})
            answer = connection.getresponse()
            return Response(answer.status, answer.headers, _read_body(connection, answer))
        except BaseException:
            # Whatever was half sent or half read, the next call starts on a new connection.
            connection.close()
            raise

    def _connection(self) -> http.client.HTTPConnection:
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = self._open()
        elif connection.sock is not None and _closed_by_server(connection.sock):
            # An idle connection the server has closed (or sent to unasked): open another
            # rather than fail a call on it. http.client reopens a closed one by itself.
            connection.close()
        return connection


def _read_body(connection: http.client.HTTPConnection, answer: http.client.HTTPResponse) -> bytes:
    """The answer's body, up to MAX_RESPONSE_BYTES: a longer one is cut, and its connection
    closed rather than read to the end (the next call opens another)."""
    body = answer.read(MAX_RESPONSE_BYTES + 1)
    if len(body) <= MAX_RESPONSE_BYTES:
        return body
    connection.close()
    return body[:MAX_RESPONSE_BYTES]


def _closed_by_server(sock: socket.socket) -> bool:
    """Readable while idle means the server closed it (or broke the protocol)."""
    poll = select.poll()
    poll.register(sock, select.POLLIN)
    return bool(poll.poll(0))
