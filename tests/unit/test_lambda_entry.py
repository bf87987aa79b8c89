"""Both functions' Lambda entry point: the core built once, a failed build retried next invocation."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from fanout.aws_clients import WORKER_CLIENTS
from fanout.errors import ConfigError
from fanout.failures import lambda_handler_for


@pytest.fixture(autouse=True)
def project_logging() -> Iterator[None]:
    """The entry point sets up Powertools' JSON logging on the project's logger; undone after."""
    logger = logging.getLogger("fanout")
    saved = (list(logger.handlers), logger.propagate, logger.level)
    yield
    logger.handlers[:], logger.propagate, logger.level = saved[0], saved[1], saved[2]


class Echo:
    def handle(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"handled": event["n"]}


def test_the_core_is_built_on_first_use_kept_and_built_again_after_a_failed_start(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")  # Lambda's AWS_REGION
    builds: list[Mapping[str, str]] = []

    def build(env: Mapping[str, str]) -> Echo:
        builds.append(env)
        if len(builds) == 1:
            raise ConfigError("THREADS=0 is outside 1..64")
        return Echo()

    handler = lambda_handler_for(build, "WorkerFailures", logging.getLogger("fanout.test"), WORKER_CLIENTS)
    with pytest.raises(ConfigError):
        handler({"Records": [], "n": 1}, None)
    # (in the function's JSON log, at ERROR)
    (line,) = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "THREADS=0" in line]
    assert line["level"] == "ERROR"
    assert handler({"Records": [], "n": 2}, None) == {"handled": 2}
    assert handler({"Records": [], "n": 3}, None) == {"handled": 3}
    assert len(builds) == 2
