"""What `fanout run` does before its emulator is ready, and how its worker processes start.

Checked in a fresh interpreter (a subprocess): what a module imports, and how many threads a
process has, depend on what ran in it before.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.request

import pytest

from fanout.errors import FanoutError
from infra.local.emulator import Emulator

_PROBE = """
import json, sys, threading
from infra.cli.main import build_parser
args = build_parser(["run", "f.csv", "--api-url", "http://127.0.0.1:9/rows"]).parse_args(
    ["run", "f.csv", "--api-url", "http://127.0.0.1:9/rows"]
)
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("boto3", "moto", "infra"))
from infra.local.environment_processes import start_context
alone = start_context().get_start_method()
ready = threading.Event()
threading.Thread(target=ready.wait, daemon=True).start()
with_thread = start_context().get_start_method()
ready.set()
print(json.dumps({
    "loaded": loaded,
    "alone": alone,
    "with_thread": with_thread,
}))
"""


@pytest.fixture(scope="module")
def probe() -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True, timeout=60
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_run_parses_its_flags_without_boto3_or_the_other_commands_so_the_emulator_launches_first(
    probe: dict[str, object],
) -> None:
    loaded = probe["loaded"]
    assert isinstance(loaded, list)
    # Parsing `fanout run` imported its own module and the light ones it registers flags from...
    assert "infra.cli.run" in loaded
    # ...but neither another command's module nor boto3 or moto: those come after the launch.
    assert not [
        m for m in loaded if m.startswith("infra.cli.") and m.rsplit(".", 1)[-1] in ("status", "dashboard")
    ]
    assert not [m for m in loaded if m.split(".")[0] in ("boto3", "moto")]


def test_worker_processes_are_forked_from_a_process_with_one_thread_and_spawned_from_one_with_more(
    probe: dict[str, object],
) -> None:
    assert probe["alone"] == "fork"
    assert probe["with_thread"] == "spawn"


def test_the_emulator_s_address_is_known_at_launch_and_a_request_sent_while_it_boots_is_answered() -> None:
    with Emulator() as emulator:
        url = emulator.url  # before it is ready: the run builds its clients with it meanwhile
        # Sent at once, while the emulator still imports moto: it waits in the socket's backlog.
        reset = urllib.request.Request(f"{url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(reset, timeout=60) as answer:
            assert answer.status == 200
        assert emulator.endpoint_url == url


def test_an_emulator_port_in_use_is_one_error_before_anything_is_launched() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(FanoutError, match=rf"did not start \(port {port}: Address already in use\)"):
            Emulator(port=port).launch()


_HANDLERS_PROBE = """
import json, sys, threading
from infra.local.stack import handlers_importing
from infra.local.environment_processes import start_context
before = [m for m in ("splitter.handler", "worker.handler") if m in sys.modules]
switch = sys.getswitchinterval()
with handlers_importing():
    inside = sys.getswitchinterval()
print(json.dumps({
    "before": before,
    "after": [m for m in ("splitter.handler", "worker.handler") if m in sys.modules],
    "switch_restored": sys.getswitchinterval() == switch and inside < switch,
    "start_method": start_context().get_start_method(),
}))
"""


def test_the_handlers_modules_import_during_the_stack_s_creation_and_workers_are_still_forked() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _HANDLERS_PROBE], capture_output=True, text=True, check=True, timeout=60
    )
    result = json.loads(done.stdout)
    assert result["before"] == []
    assert result["after"] == ["splitter.handler", "worker.handler"]
    assert result["switch_restored"]
    # The importing thread has ended with the block: this process still forks its workers.
    assert result["start_method"] == "fork"
