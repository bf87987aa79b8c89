"""The `fanout` command as a child process, as a user runs it; `fanout local up` for a test's length."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import IO

# `fanout local up` answers `fanout status` once its stack is made (seconds; a minute on a busy CI).
LOCAL_UP_TIMEOUT_S = 60.0


def fanout(
    *args: str, env: Mapping[str, str] | None = None, unset: Iterable[str] = (), timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """Runs `fanout ARGS` with this environment plus `env`, less the variables named in `unset`."""
    dropped = set(unset)
    environment = {k: v for k, v in {**os.environ, **(env or {})}.items() if k not in dropped}
    return subprocess.run(
        [sys.executable, "-m", "infra.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=environment,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def local_up(
    api_url: str, *flags: str, log: IO[str] | None = None, env: Mapping[str, str] | None = None
) -> Iterator[str]:
    """`fanout local up --api-url API_URL FLAGS` on a free port (with this environment plus `env`);
    yields its endpoint once it answers."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "infra.cli", "local", "up", "--api-url", api_url, "--port", str(port), *flags],
        stdout=log or subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + LOCAL_UP_TIMEOUT_S
        while fanout("status", env={"AWS_ENDPOINT_URL": url}, timeout=60).returncode != 0:
            assert time.monotonic() < deadline and process.poll() is None, "the local stack did not come up"
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)
