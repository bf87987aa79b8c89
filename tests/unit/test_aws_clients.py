"""The functions' AWS clients give up within the time each function keeps back."""

from __future__ import annotations

import contextlib
import socket
import threading
from pathlib import Path

import pytest
from botocore.exceptions import ReadTimeoutError

from fanout.aws_clients import SPLITTER_CLIENTS, WORKER_CLIENTS, ClientLimits, bounded_session
from splitter.core import HANDOFF_RESERVE_S
from worker.core import SETTLE_RESERVE_S


def test_a_call_at_its_worst_is_every_attempt_timing_out_plus_the_longest_backoffs() -> None:
    limits = ClientLimits(connect_timeout_s=1.0, read_timeout_s=4.0, attempts=3)
    assert limits.worst_call_s == 3 * 5.0 + 2.0 + 4.0
    config = limits.config()
    assert (config.connect_timeout, config.read_timeout) == (1.0, 4.0)
    assert config.retries == {"mode": "standard", "total_max_attempts": 3}


def test_each_functions_clients_give_up_within_the_time_it_keeps_back() -> None:
    assert WORKER_CLIENTS.worst_call_s < SETTLE_RESERVE_S
    assert SPLITTER_CLIENTS.worst_call_s < HANDOFF_RESERVE_S


def test_every_client_of_a_bounded_session_carries_its_limits() -> None:
    limits = ClientLimits(connect_timeout_s=1.5, read_timeout_s=3.0, attempts=2)
    session = bounded_session(limits)
    for service in ("secretsmanager", "sts", "sqs"):
        config = session.client(service, region_name="us-east-1").meta.config
        assert (config.connect_timeout, config.read_timeout) == (1.5, 3.0)
        assert config.retries == {"mode": "standard", "total_max_attempts": 2}


class SilentServer:
    """A loopback server that accepts connections, reads what comes and never answers."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        self.connections = 0
        self._open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                connection, _ = self._socket.accept()
                self.connections += 1
                self._open.append(connection)

    def close(self) -> None:
        for connection in [*self._open, self._socket]:
            connection.close()


def test_the_sts_call_behind_an_assume_role_profile_gives_up_as_the_limits_say(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN credentials from an assume-role profile, and an STS endpoint that never answers
    server = SilentServer()
    config_file = tmp_path / "config"
    config_file.write_text(
        "[profile worker]\nrole_arn = arn:aws:iam::123456789012:role/worker\nsource_profile = base\n"
        "[profile base]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = secret\n"
    )
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config_file))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_PROFILE", "worker")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", f"http://127.0.0.1:{server.port}")
    try:
        # WHEN a bounded session's credentials are needed
        credentials = bounded_session(ClientLimits(connect_timeout_s=0.5, read_timeout_s=0.2, attempts=2))
        with pytest.raises(ReadTimeoutError):
            credentials.get_credentials().get_frozen_credentials()  # type: ignore[union-attr]
    finally:
        server.close()
    # THEN STS was tried as often as the limits allow, each attempt cut off by their read timeout
    assert server.connections == 2
