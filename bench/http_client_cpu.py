"""CPU per call of the worker's HTTP/1.1 (worker/http1.py) against the standard library's
http.client, which it replaced: many threads in one process, as in a worker process at C = 512,
each with its own kept-alive connection, against the benchmarks' loopback API at the story's
30-80 ms. The two clients alternate for a few seconds each, repeated, so both see the same
machine; the figure is the process's CPU time over the calls the API counted.

    .venv/bin/python -m bench.http_client_cpu [--threads 256] [--seconds 8] [--repeat 2]
"""

from __future__ import annotations

import argparse
import http.client
import json
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from infra.demo.job import DemoApiProcess
from worker.api_connections import MAX_RESPONSE_BYTES, USER_AGENT
from worker.http1 import Http1Connection

STORY_LATENCY_MS = (30.0, 80.0)
BODY = json.dumps({"id": "12345", "name": 'Zoë, "the" tester', "email": "x@example.com"}).encode()
TIMEOUT_S = 10.0


def _headers(n: int) -> dict[str, str]:
    return {"User-Agent": USER_AGENT, "Content-Type": "application/json", "Idempotency-Key": f"job:{n}"}


def _with_http_client(host: str, port: int, path: str, stop: threading.Event) -> None:
    connection = http.client.HTTPConnection(host, port, timeout=TIMEOUT_S)
    n = 0
    while not stop.is_set():
        connection.request("POST", path, body=BODY, headers=_headers(n))
        connection.getresponse().read(MAX_RESPONSE_BYTES + 1)
        n += 1
    connection.close()


def _with_http1(host: str, port: int, path: str, stop: threading.Event) -> None:
    connection = Http1Connection(host, port, TIMEOUT_S)
    n = 0
    while not stop.is_set():
        connection.request("POST", path, BODY, _headers(n), MAX_RESPONSE_BYTES)
        n += 1
    connection.close()


CLIENTS: dict[str, Callable[[str, int, str, threading.Event], None]] = {
    "http.client": _with_http_client,
    "worker.http1": _with_http1,
}


def cpu_per_call(api: DemoApiProcess, client: str, threads: int, seconds: float) -> float:
    url = urlsplit(api.url)
    assert url.hostname is not None and url.port is not None
    stop = threading.Event()
    loop = CLIENTS[client]
    workers = [
        threading.Thread(target=loop, args=(url.hostname, url.port, url.path, stop)) for _ in range(threads)
    ]
    calls_before = api.stats()["calls"]
    cpu_before = time.process_time()
    for worker in workers:
        worker.start()
    time.sleep(seconds)
    stop.set()
    for worker in workers:
        worker.join()
    cpu = time.process_time() - cpu_before
    calls: int = api.stats()["calls"] - calls_before
    return cpu / max(1, calls)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="CPU per call: worker/http1.py against http.client.")
    parser.add_argument("--threads", type=int, default=256)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)
    with DemoApiProcess(STORY_LATENCY_MS, module="bench.api") as api:
        for _ in range(args.repeat):
            for client in CLIENTS:
                us = cpu_per_call(api, client, args.threads, args.seconds) * 1e6
                print(f"{client:13} {args.threads} threads: {us:.0f} us of CPU per call", flush=True)


if __name__ == "__main__":
    main()
