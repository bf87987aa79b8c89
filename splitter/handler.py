"""Lambda entry point: wires the environment to the splitter core."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import boto3

from fanout import metrics
from fanout.aws_clients import SPLITTER_CLIENTS, bounded_session
from fanout.failures import FailedMessages, lambda_handler_for
from fanout.jobs import JobStore
from fanout.metrics import MetricsSink, MetricsTarget
from fanout.reports import JobReporter
from fanout.results_combine import ResultsCombiner
from fanout.results_handoff import results_handoff
from fanout.settings import SplitterSettings
from splitter.core import Splitter
from splitter.intake import IntakeProcessor


def build(
    env: Mapping[str, str],
    session: boto3.Session | None = None,
    metrics_sink: MetricsSink | None = None,
    **kwargs: Any,
) -> IntakeProcessor:
    """The splitter core; metrics go to stdout as EMF unless another sink is given (the local stack)."""
    # A given session (the local stack's) has defaults of its own: each client is given the
    # limits too, which take precedence over them.
    session = session or bounded_session(SPLITTER_CLIENTS)
    settings = SplitterSettings.from_env(env)
    config = SPLITTER_CLIENTS.config()
    dynamodb = session.client("dynamodb", config=config)
    jobs = JobStore(dynamodb, settings.jobs_table)
    s3, sqs = session.client("s3", config=config), session.client("sqs", config=config)
    target = MetricsTarget.from_env(env, metrics_sink)
    splitter = Splitter(s3, sqs, jobs, settings, target, **kwargs)
    results = ResultsCombiner(s3, dynamodb, settings.ledger_table, settings.results_mode)
    failures = FailedMessages(
        sqs, jobs, target, metrics.SPLITTER_FAILURES, logging.getLogger("fanout.splitter")
    )
    handoff = results_handoff(sqs, settings.intake_queue_url, settings.results_mode)
    reporter = JobReporter(jobs, s3, session.client("events", config=config), results, handoff)
    return IntakeProcessor(splitter, sqs, reporter, failures, settings.intake_dlq_url)


lambda_handler = lambda_handler_for(
    build, metrics.SPLITTER_FAILURES, logging.getLogger("fanout.splitter"), SPLITTER_CLIENTS
)
