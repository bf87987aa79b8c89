"""Lambda entry point: wires the environment to the worker core."""

from __future__ import annotations

import gc
import logging
from collections.abc import Mapping

import boto3

from fanout import metrics
from fanout.aws_clients import WORKER_CLIENTS, bounded_session
from fanout.failures import FailedMessages, lambda_handler_for
from fanout.jobs import JobStore
from fanout.metrics import MetricsSink, MetricsTarget
from fanout.reports import JobReporter
from fanout.request_store import RequestStore
from fanout.results_handoff import results_handoff
from fanout.settings import WorkerSettings
from worker.api_connections import ApiConnections
from worker.authenticators import Authenticators
from worker.core import Worker
from worker.fleet import DynamoFleetCounter, FleetWatch
from worker.ledger import Ledger
from worker.poster import RowPoster
from worker.renderers import Renderers
from worker.responses import RetryPolicy
from worker.results_log import ResultsLog
from worker.secrets import SecretStore
from worker.throttle import AdaptiveLimiter, Budget


def build(
    env: Mapping[str, str], session: boto3.Session | None = None, metrics_sink: MetricsSink | None = None
) -> Worker:
    """The worker core; metrics go to stdout as EMF unless another sink is given (the local stack)."""
    # A given session (the local stack's) has defaults of its own: each client is given the
    # limits too, which take precedence over them.
    session = session or bounded_session(WORKER_CLIENTS)
    settings = WorkerSettings.from_env(env)
    config = WORKER_CLIENTS.config()
    secrets = SecretStore(session.client("secretsmanager", config=config), settings.secrets_prefix)
    authenticators = Authenticators(session, secrets, session.region_name)
    auth = None
    if settings.api_auth_secret_arn:
        auth = authenticators.for_secret_arn(settings.api_auth_secret_arn, settings.api_url)
    dynamodb, s3 = session.client("dynamodb", config=config), session.client("s3", config=config)
    budget = Budget(
        settings.max_in_flight, settings.max_calls_per_second, settings.worker_concurrency, settings.threads
    )
    # Without a budget there is nothing to share: no environment is counted.
    fleet = FleetWatch(DynamoFleetCounter(dynamodb, settings.ledger_table)) if budget.shared else None
    poster = RowPoster(
        ApiConnections(settings.api_url, settings.request_timeout_s),
        RetryPolicy(attempt_limit=settings.attempt_limit),
        AdaptiveLimiter(budget, fleet=fleet.current if fleet else lambda: None),
        auth=auth,
    )
    results = ResultsLog(s3, settings.data_bucket, settings.results_mode)
    ledger = Ledger(dynamodb, settings.ledger_table, settings.jobs_table, results=results)
    jobs = JobStore(dynamodb, settings.jobs_table)
    sqs = session.client("sqs", config=config)
    # The results combine goes to the splitter function (900 s): more than a worker's 120 s.
    handoff = results_handoff(sqs, settings.intake_queue_url, settings.results_mode)
    reporter = JobReporter(jobs, s3, session.client("events", config=config), handoff=handoff)
    target = MetricsTarget.from_env(env, metrics_sink)
    renderers = Renderers(RequestStore(s3), poster.endpoint, authenticators, auth)
    worker = Worker(
        poster,
        ledger,
        sqs,
        settings.dlq_url,
        settings.threads,
        settings.max_receive_count,
        target,
        reporter,
        FailedMessages(sqs, jobs, target, metrics.WORKER_FAILURES, logging.getLogger("fanout.worker")),
        renderers,
        jobs,
        settings.held_queue_url,
        settings.worker_concurrency,
        fleet,
    )
    # What is built here lives as long as the execution environment, and boto3's clients and
    # their service models are most of the heap: every full collection walked them, with every
    # thread of the process stopped. Measured in a 100,000-row run at C = 64, per worker process:
    # 2.0 s in the collector, pauses up to 180 ms; frozen, 0.86 s and 38 ms (bench/README.md).
    gc.freeze()
    return worker


lambda_handler = lambda_handler_for(
    build, metrics.WORKER_FAILURES, logging.getLogger("fanout.worker"), WORKER_CLIENTS
)
