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

LOOPBACK = "127.0.0.1"
READY_PREFIX = "fanout-emulator-ready "
# Its stderr goes nowhere (moto's own noise), so why it could not start comes on stdout.
FAILED_PREFIX = "fanout-emulator-failed "
START_TIMEOUT_S = 60.0


class Emulator:
    """Starts on enter, stops on exit; `endpoint_url` is where boto3 should point.

    Enter launches the process and returns at once; `endpoint_url` waits until the emulator is
    ready. Its start (about a second of CPU, mostly importing moto) so overlaps with whatever the
    caller does in between: a run checks its file and API meanwhile.
    """

    def __init__(self, port: int = 0) -> None:
        self._port = port
        self._process: subprocess.Popen[str] | None = None
        self._endpoint_url = ""

    def __enter__(self) -> Emulator:
        self.launch()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def endpoint_url(self) -> str:
        if not self._endpoint_url:
            self.wait_ready()
        return self._endpoint_url

    def launch(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "infra.local.emulator", "--port", str(self._port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def wait_ready(self) -> None:
        if self._process is None:
            raise FanoutError("the AWS emulator is not running")
        assert self._process.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        line = self._process.stdout.readline()
        if not line.startswith(READY_PREFIX) or time.monotonic() > deadline:
            self.stop()
            why = (
                line[len(FAILED_PREFIX) :].strip() if line.startswith(FAILED_PREFIX) else f"port {self._port}"
            )
            raise FanoutError(f"the AWS emulator did not start ({why})")
        self._endpoint_url = f"http://{LOOPBACK}:{int(line[len(READY_PREFIX) :])}"

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
        self._endpoint_url = ""


def _serve(port: int) -> None:
    # Imported here, in the emulator's process only: the process that launches it never needs
    # moto, and `fanout run` launches it before anything else.
    from moto.server import ThreadedMotoServer

    from infra.local.emulator_fixes import apply_fixes
    from infra.local.emulator_objects import apply_object_streaming
    from infra.local.emulator_speedups import apply_speedups
    from infra.local.moto_patches import MotoPatchError

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
