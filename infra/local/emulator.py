"""The embedded AWS emulator (moto's server) in a child process on a free loopback port.

A separate process keeps the emulator's request handling off the interpreter that runs the
handlers' threads. The launching process opens the listening socket and hands it over, so the
emulator's address is known at launch: clients are built while it boots (about a second), and a
request sent meanwhile waits in the socket's backlog.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from types import TracebackType

from fanout.errors import FanoutError
from infra.local.allocator import limit_arenas

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
        self._url = ""
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

    @property
    def url(self) -> str:
        """Where it listens, known from launch on (`endpoint_url` once it also serves)."""
        if not self._url:
            raise FanoutError("the AWS emulator is not running")
        return self._url

    @property
    def pid(self) -> int:
        """The emulator's process id (its memory is measured by bench/ and tests)."""
        if self._process is None:
            raise FanoutError("the AWS emulator is not running")
        return self._process.pid

    def launch(self) -> None:
        # The launching process (the CLI: the splitter, and the worker processes it forks) as
        # the emulator: before either starts its threads.
        limit_arenas()
        try:
            listener = socket.create_server((LOOPBACK, self._port))
        except OSError as exc:
            why = os.strerror(exc.errno) if exc.errno else str(exc)
            raise FanoutError(f"the AWS emulator did not start (port {self._port}: {why})") from exc
        # Only the emulator holds the socket from here: if it dies, clients are refused, not left
        # waiting in the backlog of a socket nobody serves.
        with listener:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "infra.local.emulator", "--fd", str(listener.fileno())],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                pass_fds=(listener.fileno(),),
            )
            self._url = f"http://{LOOPBACK}:{listener.getsockname()[1]}"

    def wait_ready(self) -> None:
        if self._endpoint_url:
            return
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
        self._endpoint_url = self._url

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
        self._url = ""
        self._endpoint_url = ""


def _serve(fd: int) -> None:
    limit_arenas()  # before the request threads (infra/local/allocator.py)
    # Imported here, in the emulator's process only: the process that launches it never needs
    # moto, and `fanout run` launches it before anything else.
    from moto.moto_server import threaded_moto_server
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

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
    # What moto's ThreadedMotoServer builds, on the socket the parent opened (it can only bind
    # its own); its request handler read from its module, where the speedups install theirs.
    handler = threaded_moto_server.MotoRequestHandler  # type: ignore[attr-defined]
    server = make_server(
        LOOPBACK,
        0,
        DomainDispatcherApplication(create_backend_app),
        threaded=True,
        request_handler=handler,
        fd=fd,
    )
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    print(f"{READY_PREFIX}{server.server_address[1]}", flush=True)
    # The parent holds our stdin open: when it goes, for whatever reason, so do we. Ctrl-C in a
    # terminal reaches the whole process group; the parent decides, and stops its workers first
    # (seen: workers' calls failing with tracebacks while the emulator had gone first).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.stdin.read()
    server.shutdown()
    serving.join()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Run the embedded AWS emulator.")
    parser.add_argument("--fd", type=int, required=True, help="the listening socket to serve")
    _serve(parser.parse_args().fd)
