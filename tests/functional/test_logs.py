"""Structured logs on Lambda: one JSON object a line, with the job and message ids."""

from __future__ import annotations

import json
import os
import subprocess
import sys

# Run in a child process: setting up Powertools' handlers changes the process's loggers.
SCRIPT = """
import logging
from fanout.logs import structured_logging
structured_logging()
logging.getLogger("fanout.worker").info(
    "settled message: %d posted", 3, extra={"job_id": "job-1", "message_id": "m-1"}
)
"""


def test_the_cores_log_lines_become_json_with_job_and_message_ids() -> None:
    env = {**os.environ, "POWERTOOLS_SERVICE_NAME": "stack-a", "POWERTOOLS_LOG_LEVEL": "INFO"}
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=30, check=True, env=env
    ).stdout
    (line,) = out.splitlines()
    record = json.loads(line)
    assert record["message"] == "settled message: 3 posted"
    assert (record["job_id"], record["message_id"], record["service"]) == ("job-1", "m-1", "stack-a")
