"""Lambda entry point: wires the environment to the splitter core."""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache
from typing import Any

import boto3

from fanout.jobs import JobStore
from fanout.settings import SplitterSettings
from splitter.core import Splitter
from splitter.intake import IntakeProcessor


def build(env: Mapping[str, str], session: boto3.Session | None = None, **kwargs: Any) -> IntakeProcessor:
    session = session or boto3.Session()
    settings = SplitterSettings.from_env(env)
    jobs = JobStore(session.client("dynamodb"), settings.jobs_table)
    sqs = session.client("sqs")
    splitter = Splitter(session.client("s3"), sqs, jobs, settings, **kwargs)
    return IntakeProcessor(splitter, sqs)


@cache
def _intake() -> IntakeProcessor:
    return build(os.environ)


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _intake().handle(event, context)
