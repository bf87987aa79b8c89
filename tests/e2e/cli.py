"""The `fanout` command as a child process, as a user runs it; `fanout local up` for a test's length."""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import IO

from botocore.exceptions import BotoCoreError, ClientError

from fanout.errors import InputError
from fanout.jobs import JobStore
from infra.ops.stack_ref import connect

# `fanout local up` answers `fanout status` once its stack is made (seconds; a minute on a busy CI).
LOCAL_UP_TIMEOUT_S = 60.0
# How often readiness is asked: in this process, a question costs milliseconds (a `fanout
# status` process cost 1.5 s under load, which every local-up test waited on).
READY_POLL_S = 0.1


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
        while not answers(port, url):
            assert time.monotonic() < deadline and process.poll() is None, "the local stack did not come up"
            time.sleep(READY_POLL_S)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def answers(port: int, url: str) -> bool:
    """Whether the stack at `url` answers what `fanout status` asks (its outputs, then its jobs),
    asked as the CLI asks it, in this process (whose environment is left as it was)."""
    with socket.socket() as s:
        if s.connect_ex(("127.0.0.1", port)) != 0:
            return False  # not listening yet: botocore would retry the refused connection for seconds
    before = dict(os.environ)
    try:
        stack = connect(argparse.Namespace(endpoint_url=url, stack=None))
        JobStore(stack.session.client("dynamodb"), stack.outputs["JobsTableName"]).list()
    except (InputError, ClientError, BotoCoreError):
        return False
    finally:
        os.environ.clear()
        os.environ.update(before)
    return True
