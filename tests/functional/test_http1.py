"""The worker's HTTP/1.1 against a loopback server that answers each request with given bytes."""

from __future__ import annotations

import http.client
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from worker.http1 import Http1Connection

LIMIT = 1024


@contextmanager
def _answering(*answers: bytes, close_after: bool = False) -> Iterator[tuple[Http1Connection, list[bytes]]]:
    """A server that reads each request whole and sends the next of `answers` on the same
    connection (a new connection picks up where the last left off); the requests it read."""
    listener = socket.create_server(("127.0.0.1", 0))
    requests: list[bytes] = []
    pending = list(answers)

    def serve() -> None:
        while pending:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            with connection:
                while pending:
                    request = _read_request(connection)
                    if request is None:
                        break
                    requests.append(request)
                    connection.sendall(pending.pop(0))
                    if close_after:
                        break

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    client = Http1Connection("127.0.0.1", listener.getsockname()[1], 5.0)
    try:
        yield client, requests
    finally:
        client.close()
        listener.close()
        thread.join(5)


def _read_request(connection: socket.socket) -> bytes | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        body += connection.recv(65536)
    return head + b"\r\n\r\n" + body


def test_a_post_is_one_well_formed_request_and_its_answer_is_read_by_content_length() -> None:
    with _answering(b'HTTP/1.1 201 Created\r\nContent-Length: 7\r\nX-Id: 42\r\n\r\n{"a":1}') as (
        client,
        seen,
    ):
        status, headers, body = client.request(
            "POST", "/rows?x=1", b'{"id":"1"}', {"Idempotency-Key": "j:1"}, LIMIT
        )
    assert (status, body, headers.get("x-id"), headers.get("X-ID")) == (201, b'{"a":1}', "42", "42")
    head, _, sent_body = seen[0].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /rows?x=1 HTTP/1.1"
    assert {
        b"Host: 127.0.0.1:" + str(client.port).encode(),
        b"Idempotency-Key: j:1",
        b"Content-Length: 10",
    } <= set(lines)
    assert sent_body == b'{"id":"1"}'


def test_calls_share_the_connection_and_a_chunked_answer_is_joined() -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nX-T: 1\r\n\r\n"
    )
    plain = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    with _answering(chunked, plain) as (client, seen):
        first = client.request("GET", "/a", None, {}, LIMIT)
        sock = client.sock
        second = client.request("DELETE", "/b", None, {}, LIMIT)
        assert client.sock is sock  # kept alive: one connection for both
    assert (first[2], second[2]) == (b"Wikipedia", b"ok")
    assert b"Content-Length" not in seen[0]  # a GET without a body says nothing of one


def test_interim_answers_are_skipped_and_bodyless_statuses_read_no_body() -> None:
    answers = (
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
    )
    with _answering(*answers) as (client, _):
        assert client.request("PUT", "/r", b"{}", {}, LIMIT)[:1] == (204,)
        assert client.request("PUT", "/r", b"{}", {}, LIMIT)[2] == b"hi"


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\n\r\nok",  # neither length nor chunks: the body ends with the connection
    ],
)
def test_an_answer_that_ends_its_connection_closes_it_after_reading(answer: bytes) -> None:
    with _answering(answer, close_after=True) as (client, _):
        assert client.request("POST", "/r", b"{}", {}, LIMIT)[2] == b"ok"
        assert client.sock is None


def test_a_body_past_the_limit_is_cut_and_the_connection_dropped() -> None:
    size = LIMIT * 4
    with _answering(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size + b"x" * size) as (client, _):
        body = client.request("POST", "/r", b"{}", {}, LIMIT)[2]
        assert len(body) == LIMIT + 1 and client.sock is None


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (b"", http.client.RemoteDisconnected),
        (b"SSH-2.0-OpenSSH\r\n\r\n", http.client.BadStatusLine),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", http.client.IncompleteRead),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", http.client.HTTPException),
    ],
)
def test_broken_answers_raise_http_client_errors(answer: bytes, error: type[Exception]) -> None:
    with _answering(answer, close_after=True) as (client, _), pytest.raises(error):
        client.request("POST", "/r", b"{}", {}, LIMIT)


def test_a_header_value_with_a_line_break_is_never_sent() -> None:
    with _answering(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n") as (client, seen):
        with pytest.raises(http.client.HTTPException, match="line break"):
            client.request("POST", "/r", b"{}", {"Authorization": "Bearer x\r\nX-Evil: 1"}, LIMIT)
        client.request("POST", "/r", b"{}", {}, LIMIT)
    assert len(seen) == 1 and b"X-Evil" not in seen[0]
