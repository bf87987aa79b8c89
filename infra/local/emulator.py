"""The embedded AWS emulator (moto's server) in a child process on a free loopback port.

A separate process keeps the emulator's request handling off the interpreter that runs the
handlers' threads.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from types import TracebackType

from fanout.errors import FanoutError
from infra.local.emulator_fixes import apply_fixes
from infra.local.emulator_objects import apply_object_streaming
from infra.local.emulator_speedups import apply_speedups
from infra.local.moto_patches import MotoPatchError

LOOPBACK = "127.0.0.1"
READY_PREFIX = "fanout-emulator-ready "
# Its stderr goes nowhere (moto's own noise), so why it could not start comes on stdout.
FAILED_PREFIX = "fanout-emulator-failed "
START_TIMEOUT_S = 60.0


class Emulator:
    """Starts on enter, stops on exit; `endpoint_url` is where boto3 should point."""

    def __init__(self, port: int = 0) -> None:
        self._port = port
        self._process: subprocess.Popen[str] | None = None
        self.endpoint_url = ""

    def __enter__(self) -> Emulator:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "infra.local.emulator", "--port", str(self._port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert self._process.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        line = self._process.stdout.readline()
        if not line.startswith(READY_PREFIX) or time.monotonic() > deadline:
            self.stop()
            why = (
                line[len(FAILED_PREFIX) :].strip() if line.startswith(FAILED_PREFIX) else f"port {self._port}"
            )
            raise FanoutError(f"the AWS emulator did not start ({why})")
        self.endpoint_url = f"http://{LOOPBACK}:{int(line[len(READY_PREFIX) :])}"

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None


def _serve(port: int) -> None:
    from moto.server import ThreadedMotoServer

    try:
        apply_fixes()
        apply_speedups()
        apply_object_streaming()
    except MotoPatchError as exc:
        print(f"{FAILED_PREFIX}{exc}", flush=True)
        sys.exit(2)
    server = ThreadedMotoServer(ip_address=LOOPBACK, port=port, verbose=False)
    server.start()
    _, bound = server.get_host_and_port()
    print(f"{READY_PREFIX}{bound}", flush=True)
    # The parent holds our stdin open: when it goes, for whatever reason, so do we. Ctrl-C in a
    # terminal reaches the whole process group; the parent decides, and stops its workers first
    # (seen: workers' calls failing with tracebacks while the emulator had gone first).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.stdin.read()
    server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Run the embedded AWS emulator.")
    parser.add_argument("--port", type=int, default=0)
    _serve(parser.parse_args().port)
