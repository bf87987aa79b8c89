"""The API's connections: one kept-alive HTTP/1.1 connection per posting thread.

Calls go through worker/http1.py, the little of HTTP/1.1 a call needs, on a socket per thread
and origin. Measured in bench/ (bench/README.md): a call through a urllib3 pool took about twice
the CPU of the same call through http.client (Timeout and Retry objects, header dictionaries and
response wrappers on every call), and http.client more than three times http1's at 256 threads;
the worker's CPU per row decides how many rows an execution environment posts at once. What a
call sends and how its errors read stays the contract of worker/poster.py.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from fanout.errors import ConfigError, InputError
from fanout.rendering import Endpoint, Origin
from worker.http1 import Http1Connection, ResponseHeaders

USER_AGENT = "fanout-worker"
# What a call reads of an answer's body: the request spec's capture looks into it (a JSON body
# cut here is no longer JSON, and captures nothing) and the DLQ keeps an excerpt of it; an API
# answering a row with more is not sending a record's reply, and the worker's memory stays bounded.
MAX_RESPONSE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Response:
    status: int
    headers: ResponseHeaders  # looked up by name, case-insensitively
    body: bytes


class ApiConnections:
    """Sends requests; each thread keeps its own connection to each origin open between calls.

    The API URL's origin is the usual one; a request spec's absolute URL may name another.
    """

    def __init__(self, url: str, timeout_s: float) -> None:
        try:
            self.endpoint = Endpoint.parse(url)
        except InputError:
            raise ConfigError(f"API_URL must be http(s)://host/...: {url!r}") from None
        self.timeout_s = timeout_s
        self._local = threading.local()
        self._calling: dict[int, Http1Connection] = {}  # each thread's call in flight
        self._tls: ssl.SSLContext | None = None  # made once, for the first https origin

    @property
    def origin(self) -> Origin:
        return self.endpoint.origin

    @property
    def path(self) -> str:
        return (self.endpoint.path or "/") + (f"?{self.endpoint.query}" if self.endpoint.query else "")

    def post(self, body: bytes, headers: Mapping[str, str]) -> Response:
        """A POST to the API URL itself (today's request)."""
        return self.send(self.origin, "POST", self.path, body, headers)

    def send(
        self,
        origin: Origin,
        method: str,
        target: str,
        body: bytes | None,
        headers: Mapping[str, str],
        timeout_s: float | None = None,
    ) -> Response:
        """One call, its answer read whole, within `timeout_s` (default: the connections' own) for
        the connect and each read and write. Raises OSError or http.client.HTTPException. A body
        longer than MAX_RESPONSE_BYTES is cut there, and its connection closed rather than read to
        its end (the next call opens another)."""
        connection = self._connection(origin)
        connection.timeout_s = timeout_s or self.timeout_s
        thread = threading.get_ident()
        self._calling[thread] = connection
        try:
            status, answer_headers, answer = connection.request(
                method, target, body, {"User-Agent": USER_AGENT, **headers}, MAX_RESPONSE_BYTES
            )
            return Response(status, answer_headers, answer[:MAX_RESPONSE_BYTES])
        except BaseException:
            # Whatever was half sent or half read, the next call starts on a new connection.
            connection.close()
            raise
        finally:
            self._calling.pop(thread, None)

    def abort(self, thread: int) -> None:
        """Ends the call `thread` has in flight, if any: its socket shut, so the call fails at once
        (a straggler handed back must not succeed unseen). A call still connecting goes on until
        its timeout."""
        connection = self._calling.get(thread)
        sock = connection.sock if connection is not None else None
        if sock is not None:
            with contextlib.suppress(OSError):  # closed meanwhile: the call is over anyway
                sock.shutdown(socket.SHUT_RDWR)

    def _connection(self, origin: Origin) -> Http1Connection:
        opened: dict[Origin, Http1Connection] | None = getattr(self._local, "connections", None)
        if opened is None:
            opened = self._local.connections = {}
        connection = opened.get(origin)
        if connection is None:
            connection = opened[origin] = self._open(origin)
        elif connection.closed_by_server():
            # An idle connection the server has closed (or sent to unasked): open another
            # rather than fail a call on it. A closed connection connects again on its next call.
            connection.close()
        return connection

    def _open(self, origin: Origin) -> Http1Connection:
        # The timeout bounds the connect and every read and write, as urllib3's did.
        if origin.scheme != "https":
            return Http1Connection(origin.host, origin.port, self.timeout_s)
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return Http1Connection(origin.host, origin.port, self.timeout_s, self._tls)
