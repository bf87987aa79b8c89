"""Structured logs on Lambda: Powertools Logger's JSON for the project's own loggers.

The cores log through standard loggers with `extra={"job_id": ..., "message_id": ...}`; on
Lambda those become keys of one JSON line each. Rows' values are never passed to a logger.
Set up only by the Lambda entry points, so the local CLI keeps its plain stderr logging.
"""

from __future__ import annotations

import logging

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

# The parent of the cores' loggers (fanout.splitter, fanout.worker, fanout.reports): they pass
# their records up to it, so its handler formats them all.
PROJECT_LOGGER = "fanout"


def structured_logging() -> Logger:
    logger = Logger()  # service and level from POWERTOOLS_SERVICE_NAME / POWERTOOLS_LOG_LEVEL
    logging.getLogger(PROJECT_LOGGER)  # registered before Powertools looks for it
    copy_config_to_registered_loggers(source_logger=logger, include={PROJECT_LOGGER})
    return logger
