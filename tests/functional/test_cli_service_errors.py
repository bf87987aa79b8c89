"""A service error no command handles is one line with its cause and a non-zero exit."""

from __future__ import annotations

import socket

import boto3
import pytest

from infra.cli.exit_codes import EXIT_SERVICE_FAILED
from infra.cli.main import main
from infra.local.emulator import Emulator
from infra.local.stack import LocalStack


def test_a_table_gone_under_a_command_is_one_line_naming_the_call(
    session: boto3.Session, stack: LocalStack, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a stack whose jobs table someone deleted
    session.client("dynamodb").delete_table(TableName=stack.outputs["JobsTableName"])
    # WHEN `fanout status` lists the jobs
    code = main(["status", "--endpoint-url", emulator.endpoint_url])
    # THEN it exits non-zero with one line: the command, the call that failed and DynamoDB's answer
    err = capsys.readouterr().err
    assert code == EXIT_SERVICE_FAILED
    assert err.count("\n") == 1
    assert err.startswith(
        "fanout status: error: AWS call failed: An error occurred (ResourceNotFoundException)"
    )
    assert "Traceback" not in err


def test_an_emulator_nobody_runs_is_one_line_naming_the_endpoint(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a loopback port nothing listens on
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{s.getsockname()[1]}"
    # WHEN `fanout status` is pointed at it
    code = main(["status", "--endpoint-url", endpoint])
    # THEN it exits non-zero with one line saying where it could not connect
    err = capsys.readouterr().err
    assert code != 0
    assert err.count("\n") == 1
    assert err.startswith(f"fanout status: error: no Fanout stack at {endpoint}")
    assert "Could not connect" in err
