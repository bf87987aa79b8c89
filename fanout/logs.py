"""Structured logs on Lambda: Powertools Logger's JSON for the project's own loggers.

The cores log through standard loggers with `extra={"job_id": ..., "message_id": ...}`; on
Lambda those become keys of one JSON line each. Rows' values are never passed to a logger.
Set up only by the Lambda entry points, so the local CLI keeps its plain stderr logging.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

PROJECT_LOGGERS = {"fanout.splitter", "fanout.worker", "fanout.reports"}


def structured_logging() -> Logger:
    logger = Logger()  # service and level from POWERTOOLS_SERVICE_NAME / POWERTOOLS_LOG_LEVEL
    copy_config_to_registered_loggers(source_logger=logger, include=PROJECT_LOGGERS)
    return logger
