"""HTTP/1.1 on one socket: a request written in one send, its answer parsed from a read buffer.

http.client, which the worker used before, builds an email.message for every answer's headers
and reads the status line and each header with a buffered readline: at 256 posting threads a
process it took 219-226 us of CPU per call against bench/api.py here, this 60-63 us (the same
calls, alternating, quiet machine; bench/README.md). The worker's CPU per row decides how many
rows a machine posts at once, so the worker speaks the little of HTTP/1.1 a call needs: one
request at a time on a kept-alive connection, answers with Content-Length, chunked, or up to the
connection's close, 1xx answers skipped. Errors are http.client's classes (or OSError), which
worker/responses.py classifies.
"""

from __future__ import annotations

import http.client
import select
import socket
import ssl
from collections.abc import Iterator, Mapping

# http.client's own bounds on an answer's head (http/client.py _MAXLINE, _MAXHEADERS).
MAX_LINE_BYTES = 65536
MAX_HEADERS = 100
RECV_BYTES = 65536
# Answers that have no body whatever their headers say (RFC 9112 6.3).
BODYLESS_STATUSES = frozenset({204, 304})


class ResponseHeaders:
    """An answer's headers, looked up by name without regard to case; the first of a repeated
    name answers `get`, as http.client's do."""

    def __init__(self, fields: list[tuple[str, str]]) -> None:
        self._fields = fields
        self._first: dict[str, str] = {}
        for name, value in fields:
            self._first.setdefault(name.lower(), value)

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._first.get(name.lower(), default)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._first

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._fields)

    def items(self) -> list[tuple[str, str]]:
        return list(self._fields)


class HeaderNotSendable(http.client.HTTPException):
    """A header value with a line break: sent, it would end the header and start another."""


class Http1Connection:
    """One connection to one origin. Not shared between threads: each call is a request and its
    whole answer, and a connection whose call failed half way is closed, never reused."""

    def __init__(self, host: str, port: int, timeout_s: float, tls: ssl.SSLContext | None = None) -> None:
        self.host = host
        self.port = port
        self.timeout_s = timeout_s
        self._tls = tls
        self.sock: socket.socket | None = None
        self._sock_timeout_s: float | None = None  # what the socket has: settimeout is a syscall
        self._readable: select.poll | None = None  # made once per socket, not per call
        self._buffer = b""
        default_port = 443 if tls is not None else 80
        name = f"[{host}]" if ":" in host else host
        authority = name if port == default_port else f"{name}:{port}"
        self._host_line = f"Host: {authority}\r\n".encode("ascii")

    def request(
        self, method: str, target: str, body: bytes | None, headers: Mapping[str, str], limit: int
    ) -> tuple[int, ResponseHeaders, bytes]:
        """Sends the request, reads its answer (the body up to `limit` + 1 bytes: a longer one is
        cut there, and the connection closed rather than read to its end)."""
        if self._buffer:
            self.close()  # bytes nobody asked for: the server broke the protocol
        if self.sock is None:
            self._connect()
        assert self.sock is not None
        if self._sock_timeout_s != self.timeout_s:
            self.sock.settimeout(self.timeout_s)
            self._sock_timeout_s = self.timeout_s
        self.sock.sendall(self._head(method, target, body, headers) + (body or b""))
        status, fields, reusable = self._read_head()
        headers_in = ResponseHeaders(fields)
        if method == "HEAD" or status in BODYLESS_STATUSES:
            answer = b""
        else:
            answer, whole = self._read_body(headers_in, limit)
            reusable = reusable and whole
        if not reusable:
            self.close()
        return status, headers_in, answer

    def closed_by_server(self) -> bool:
        """Whether the open connection, idle between calls, is readable: the server has closed it
        (or broken the protocol by sending unasked)."""
        if self._readable is None:
            return False
        return bool(self._readable.poll(0))

    def close(self) -> None:
        sock, self.sock, self._buffer, self._readable = self.sock, None, b"", None
        if sock is not None:
            sock.close()

    def _connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout_s)
        # One send per request: nothing for Nagle's algorithm to gather, only to delay.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._tls is not None:
            sock = self._tls.wrap_socket(sock, server_hostname=self.host)
        self.sock, self._sock_timeout_s = sock, self.timeout_s
        self._readable = select.poll()
        self._readable.register(sock, select.POLLIN)

    def _head(self, method: str, target: str, body: bytes | None, headers: Mapping[str, str]) -> bytes:
        lines = [f"{method} {target} HTTP/1.1\r\n", "Accept-Encoding: identity\r\n"]
        for name, value in headers.items():
            if "\n" in value or "\r" in value:
                raise HeaderNotSendable(f"header {name!r} holds a line break")
            lines.append(f"{name}: {value}\r\n")
        if body is not None or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body or b'')}\r\n")
        lines.append("\r\n")
        return self._host_line.join((lines[0].encode("latin-1"), "".join(lines[1:]).encode("latin-1")))

    def _read_head(self) -> tuple[int, list[tuple[str, str]], bool]:
        """The final answer's status, its header fields, and whether the connection stays open
        (1xx interim answers are read past)."""
        while True:
            head = self._take_head()
            status_line, *field_lines = head.decode("latin-1").split("\r\n")
            version, status = _status(status_line)
            if 100 <= status < 200 and status != 101:
                continue
            if len(field_lines) > MAX_HEADERS:
                raise http.client.HTTPException(f"got more than {MAX_HEADERS} headers")
            fields = [_field(line) for line in field_lines if line]
            connection = ",".join(v for n, v in fields if n.lower() == "connection").lower()
            reusable = "close" not in connection and (version == "HTTP/1.1" or "keep-alive" in connection)
            return status, fields, reusable

    def _take_head(self) -> bytes:
        while True:
            end = self._buffer.find(b"\r\n\r\n")
            if end >= 0:
                head, self._buffer = self._buffer[:end], self._buffer[end + 4 :]
                return head
            if len(self._buffer) > MAX_LINE_BYTES * 2:
                raise http.client.LineTooLong("answer head")
            if not self._fill():
                if self._buffer:
                    raise http.client.IncompleteRead(self._buffer)
                raise http.client.RemoteDisconnected("Remote end closed connection without response")

    def _read_body(self, headers: ResponseHeaders, limit: int) -> tuple[bytes, bool]:
        """The body (at most `limit` + 1 bytes) and whether it was read to its end."""
        if "chunked" in (headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked(limit)
        length = headers.get("Content-Length")
        if length is None:
            return self._read_to_close(limit), False
        try:
            size = int(length)
        except ValueError:
            raise http.client.HTTPException(f"bad Content-Length: {length!r}") from None
        if size < 0:
            raise http.client.HTTPException(f"bad Content-Length: {length!r}")
        wanted = min(size, limit + 1)
        return self._read_exactly(wanted), wanted == size

    def _read_exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            if not self._fill():
                raise http.client.IncompleteRead(self._buffer, size - len(self._buffer))
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def _read_to_close(self, limit: int) -> bytes:
        while len(self._buffer) <= limit and self._fill():
            pass
        return self._read_exactly(min(len(self._buffer), limit + 1))

    def _read_chunked(self, limit: int) -> tuple[bytes, bool]:
        parts: list[bytes] = []
        kept = 0
        while kept <= limit:
            size = _chunk_size(self._read_line())
            if size == 0:
                while self._read_line():  # the trailer, up to its empty line
                    pass
                return b"".join(parts), True
            parts.append(self._read_exactly(size))
            kept += size
            self._read_line()
        return b"".join(parts)[: limit + 1], False

    def _read_line(self) -> bytes:
        while True:
            end = self._buffer.find(b"\r\n")
            if end >= 0:
                line, self._buffer = self._buffer[:end], self._buffer[end + 2 :]
                return line
            if len(self._buffer) > MAX_LINE_BYTES:
                raise http.client.LineTooLong("chunk size")
            if not self._fill():
                raise http.client.IncompleteRead(self._buffer)

    def _fill(self) -> bool:
        """More of the answer into the buffer; False once the server has closed the connection."""
        assert self.sock is not None
        data = self.sock.recv(RECV_BYTES)
        self._buffer += data
        return bool(data)


def _status(line: str) -> tuple[str, int]:
    version, _, rest = line.partition(" ")
    code = rest[:3]
    if not version.startswith("HTTP/") or not code.isdigit():
        raise http.client.BadStatusLine(line)
    return version, int(code)


def _chunk_size(line: bytes) -> int:
    text = line.split(b";", 1)[0].strip()
    try:
        size = int(text, 16)
    except ValueError:
        size = -1
    if size < 0:
        raise http.client.HTTPException(f"bad chunk size: {text[:20]!r}")
    return size


def _field(line: str) -> tuple[str, str]:
    name, colon, value = line.partition(":")
    if not colon:
        raise http.client.HTTPException(f"not a header line: {line[:80]!r}")
    return name.strip(), value.strip()
