"""The worker's connections to the API: kept open, reopened when the server closes them, timed out."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from fanout.errors import PermanentError
from infra.demo.job import DemoApiProcess
from worker.api_connections import MAX_RESPONSE_BYTES, ApiConnections

_ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"


def test_each_thread_keeps_one_connection_for_all_its_calls() -> None:
    with DemoApiProcess((0.0, 0.0), module="bench.api") as api:
        connections = ApiConnections(api.url, 5.0)

        def post_three(thread: int) -> None:
            for n in range(3):
                answer = connections.post(b'{"id": "1"}', {"Idempotency-Key": f"j:{thread}:{n}"})
                assert (answer.status, answer.body) == (200, b'{"ok":true}')

        threads = [threading.Thread(target=post_three, args=(t,)) for t in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        stats = api.stats()
        assert stats["calls"] == 6
        assert stats["connections"] == 2 + 1  # one per thread, and the one asking for the stats


@contextmanager
def _server(handle: object) -> Iterator[str]:
    """A loopback server that runs `handle(connection)` for each connection it accepts."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=handle, args=(connection,), daemon=True).start()  # type: ignore[arg-type]

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/rows"
    finally:
        stop.set()
        listener.close()


def _read_request(connection: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        data += connection.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(
        next(line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")).split(b":")[
            1
        ]
    )
    while len(body) < length:
        body += connection.recv(65536)
    return head


def test_a_connection_the_server_closed_while_idle_is_reopened_not_failed() -> None:
    heads: list[bytes] = []

    def answer_once_then_close(connection: socket.socket) -> None:
        with connection:
            heads.append(_read_request(connection))
            connection.sendall(_ANSWER)  # keep-alive by HTTP/1.1, then closed all the same

    with _server(answer_once_then_close) as url:
        connections = ApiConnections(url, 5.0)
        assert connections.post(b"{}", {"Idempotency-Key": "j:1"}).status == 200
        time.sleep(0.2)  # the server's close has arrived
        assert connections.post(b"{}", {"Idempotency-Key": "j:2"}).status == 200
    assert len(heads) == 2
    assert heads[0].startswith(b"POST /rows HTTP/1.1")
    assert b"User-Agent: fanout-worker" in heads[0] and b"Idempotency-Key: j:1" in heads[0]


def test_an_api_that_does_not_answer_times_out_and_the_next_call_starts_afresh() -> None:
    calls: list[int] = []
    # The first connection neither answers nor closes until the test is done with it, so the
    # call can only end by the client's own timeout.
    release = threading.Event()

    def silent_then_answering(connection: socket.socket) -> None:
        with connection:
            while True:
                _read_request(connection)
                calls.append(1)
                if len(calls) == 1:
                    release.wait(30)
                    return
                connection.sendall(_ANSWER)

    with _server(silent_then_answering) as url:
        connections = ApiConnections(url, 0.5)
        try:
            with pytest.raises(TimeoutError):
                connections.post(b"{}", {"Idempotency-Key": "j:1"})
            assert connections.post(b"{}", {"Idempotency-Key": "j:1"}).status == 200
        finally:
            release.set()


@pytest.mark.parametrize("url", ["ftp://host/rows", "rows", "http:///rows"])
def test_an_api_url_that_is_not_http_is_refused_at_once(url: str) -> None:
    with pytest.raises(PermanentError, match="http"):
        ApiConnections(url, 1.0)


def test_a_longer_answer_than_the_bound_is_cut_and_the_next_call_goes_through() -> None:
    # GIVEN a server answering the first call with more than MAX_RESPONSE_BYTES, then briefly
    calls: list[int] = []

    def handle(connection: socket.socket) -> None:
        with connection:
            while connection.recv(65536):
                calls.append(1)
                size = MAX_RESPONSE_BYTES + 10 if len(calls) == 1 else 2
                head = f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n".encode()
                try:
                    connection.sendall(head + b"x" * size)
                except OSError:
                    return

    with _server(handle) as url:
        connections = ApiConnections(url, 5.0)
        # WHEN two calls are made
        first = connections.post(b"{}", {})
        second = connections.post(b"{}", {})
    # THEN the first body is cut at the bound, and the second call gets its answer whole
    assert len(first.body) == MAX_RESPONSE_BYTES
    assert (second.status, second.body) == (200, b"xx")
