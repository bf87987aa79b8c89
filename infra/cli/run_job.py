"""`fanout run`: one file through the whole local stack, from the S3 drop to the report."""

from __future__ import annotations

import json
import math
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from fanout.contract import job_id_for
from fanout.errors import FanoutError, InputError
from fanout.formats import CsvFormat
from fanout.jobs import Job, JobStore
from fanout.reports import report_for
from fanout.results import MODE_NONE
from fanout.s3events import object_version
from infra.cli.exit_codes import EXIT_OK, EXIT_ROWS_FAILED
from infra.cli.flags import scale_parameters
from infra.cli.preflight import check_api_url, check_csv
from infra.cli.progress import ProgressPrinter, rate_and_eta
from infra.cli.request_files import RequestFile
from infra.local.cpus import DEFAULT_PROCESSES
from infra.local.emulator import Emulator
from infra.local.endpoint import load_client_models, use_endpoint
from infra.local.runtime import LocalRuntime
from infra.local.secrets import put_secrets
from infra.local.stack import LOCAL_STACK_SERVICES, LocalStack, handlers_importing, local_stack
from infra.local.template import load_template, parameter_values
from infra.ops.dashboard_data import read_dashboard, save_last_run
from infra.ops.dead_letter_access import dead_letters_for
from infra.ops.dead_letters import DeadLetters
from infra.ops.results_file import read_results, write_results
from infra.ops.upload import completion_client, upload
from splitter.compression import is_gzip

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.literals import QueueAttributeNameType

INCOMING_PREFIX = "incoming/"
POLL_S = 0.25
# A small job settles a fraction of a second after its drop: polled this often in its first
# seconds, its end is seen when it comes rather than up to a POLL_S later.
FIRST_POLL_S = 0.05
FIRST_POLLS_FOR_S = 2.0
# ... and in its last seconds, by the progress line's ETA.
NEAR_END_S = 2.0
# Queues empty this long with rows unsettled: those rows are in messages the redrive policy moved.
IDLE_BEFORE_RECONCILE_S = 2.0
# The splitter is triggered through the intake queue; if no job shows up in this long, the
# drop never reached it.
JOB_APPEAR_TIMEOUT_S = 60.0
# A file up to this size has its lines counted, to start no more worker processes than it needs.
SMALL_FILE_BYTES = 1 << 20
# The reporter combines the results after the job's last row: about 10 s a million rows here.
RESULTS_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class RunOptions:
    file: Path
    api_url: str
    concurrency: int
    threads: int
    report: Path | None = None
    parameters: dict[str, str] = field(default_factory=dict)
    file_format: dict[str, str] = field(default_factory=dict)  # the file's fanout-* metadata
    # Local processes the workers' environments are spread over; None: one per CPU, fewer for a
    # small file (processes_for).
    processes: int | None = None
    # The spec's secrets by NAME, for the emulator's Secrets Manager (never shown: repr=False).
    secrets: dict[str, str] = field(default_factory=dict, repr=False)
    results: Path | None = None  # where to write the job's results file
    request: RequestFile | None = None  # the request spec; None: the template's DefaultRequest


def exit_code_for(job: Job) -> int:
    return EXIT_OK if job.state == "done" else EXIT_ROWS_FAILED


def drop_file(
    session: boto3.Session,
    stack: LocalStack | dict[str, str],
    path: Path,
    metadata: dict[str, str] | None = None,
) -> tuple[str, str, str]:
    """Uploads into incoming/ (the S3 drop trigger), in parts; returns bucket, key and version."""
    outputs = stack.outputs if isinstance(stack, LocalStack) else stack
    bucket = outputs["DataBucketName"]
    key = INCOMING_PREFIX + path.name
    version_id, etag = upload(
        session.client("s3"), path, bucket, key, metadata or {}, completing=completion_client(session)
    )
    return bucket, key, object_version(version_id, etag)


def wait_for_job(
    jobs: JobStore, job_id: str, started: float, printer: ProgressPrinter, idle: IdleCheck
) -> Job:
    deadline = time.monotonic() + JOB_APPEAR_TIMEOUT_S
    while True:
        job = jobs.get(job_id)
        if job is None:
            if time.monotonic() > deadline:
                raise FanoutError("the dropped file never started a job (is the splitter running?)")
        elif job.is_finished:
            printer.show(job, time.monotonic() - started, final=True)
            return job
        else:
            printer.show(job, time.monotonic() - started)
            idle.check(job)
        time.sleep(poll_interval(job, time.monotonic() - started))


def poll_interval(job: Job | None, elapsed_s: float) -> float:
    """How long until the job is read again: often in its first seconds and its last (its end is
    then seen when it comes, not up to a POLL_S later), every POLL_S in between."""
    if elapsed_s < FIRST_POLLS_FOR_S or job is None:
        return FIRST_POLL_S
    _, eta = rate_and_eta(job, elapsed_s)
    return FIRST_POLL_S if eta is not None and eta < NEAR_END_S else POLL_S


class IdleCheck:
    """Accounts for rows that nothing is working on any more.

    When the work and intake queues are empty, nothing is in flight, and the job still has
    unsettled rows, those rows are in messages the redrive policy moved to the DLQ (their
    invocations kept dying): reading the DLQ counts them as failed, with that reason.
    """

    def __init__(self, sqs: SQSClient, queue_urls: list[str], dead_letters: DeadLetters) -> None:
        self._sqs = sqs
        self._urls = queue_urls
        self._dead = dead_letters
        self._idle_since: float | None = None
        self._checked = -math.inf

    def check(self, job: Job) -> None:
        now = time.monotonic()
        # The job is read more often in its first and last seconds; the queues need not be.
        if now - self._checked < POLL_S:
            return
        self._checked = now
        if job.state != "running" or not self._queues_empty():
            self._idle_since = None
            return
        if self._idle_since is None:
            self._idle_since = now
        elif now - self._idle_since >= IDLE_BEFORE_RECONCILE_S:
            self._dead.annotate_moved()
            self._idle_since = None

    def _queues_empty(self) -> bool:
        names: list[QueueAttributeNameType] = [
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
        ]
        for url in self._urls:
            attributes = self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
            if any(int(attributes.get(name, "0")) for name in names):
                return False
        return True


def run(
    options: RunOptions,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    emulator: Emulator | None = None,
) -> int:
    """The run on `emulator` (launched, perhaps not yet ready), else on an emulator of its own."""
    # The emulator boots (about a second of CPU) while the checks run; a failed check stops it.
    with nullcontext(emulator) if emulator else Emulator() as emulator:
        parameters = check_run(options)
        session = use_endpoint(emulator.url)
        # Its clients' models loaded while the emulator may still be booting (0.3 s of CPU).
        load_client_models(session, LOCAL_STACK_SERVICES)
        with handlers_importing():  # while this process waits on the emulator
            emulator.wait_ready()
            stack = local_stack(session, parameters, create=True)
        put_secrets(session, stack, options.secrets)
        jobs = JobStore(session.client("dynamodb"), stack.outputs["JobsTableName"])
        idle = idle_check(session, stack.outputs)
        processes = options.processes or processes_for(options.file, stack.parameters, DEFAULT_PROCESSES)
        runtime = LocalRuntime(session, stack, options.concurrency, processes)
        try:
            # The file goes in while the workers' environments start (their processes build their
            # handlers: 0.15 s here, over a second under load): the splitter's first messages
            # wait in the work queue for them, as on Lambda while environments start.
            runtime.launch()
            started = time.monotonic()
            metadata = dict(options.file_format)
            if options.request is not None:
                metadata.update(options.request.upload(session, stack.outputs["DataBucketName"]))
            bucket, key, version = drop_file(session, stack, options.file, metadata)
            job_id = job_id_for(bucket, key, version)
            print(f"job {job_id}: {options.file} -> s3://{bucket}/{key}", file=err)
            runtime.wait_ready()
            job = wait_for_job(jobs, job_id, started, ProgressPrinter(err), idle)
            duration = time.monotonic() - started
            if options.results:
                save_results(session, wait_for_results(jobs, job_id), options.results)
        finally:
            runtime.stop()
        _keep_dashboard(session, stack, err)
    report = report_for(job, duration, str(options.results or ""))
    if options.report:
        options.report.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(summary(report), file=out)
    return exit_code_for(job)


def check_run(options: RunOptions) -> dict[str, str]:
    """What is checked before anything is attempted; the stack's parameters for the run."""
    parameters = run_parameters(options)
    if options.request is not None:
        # Before anything touches the network: a credential for a plain-http host is never sent.
        options.request.check_auth(options.api_url, options.secrets)
    check_api_url(options.api_url)
    if (
        options.results
        and parameter_values(load_template(), parameters, strict=False)["ResultsMode"] == MODE_NONE
    ):
        raise InputError("--results needs ResultsMode all or failures (it is none)")
    columns = check_csv(options.file, stack_format(parameters).overridden_by(options.file_format))
    if options.request is not None:
        options.request.check_columns(columns)
    return parameters


def run_parameters(options: RunOptions) -> dict[str, str]:
    """The local stack's parameters for the run: the scale asked for, the user's own, and no
    per-row results unless --results wants them. The stack goes with the run, so results nobody
    asked for are never read: writing them cost the workers a result part per ledger write and
    the run's end the combine (about 10 s a million rows). A user's ResultsMode still wins."""
    parameters = {
        **scale_parameters(options.api_url, options.concurrency, options.threads),
        **options.parameters,
    }
    if options.results is None:
        parameters.setdefault("ResultsMode", MODE_NONE)
    return parameters


def processes_for(path: Path, parameters: dict[str, str], most: int) -> int:
    """Worker processes for a file: one per CPU (`most`), but no more than its work messages.

    Each process takes a share of the messages, and one that gets none costs its start (a
    quarter of a second of CPU here) for nothing: a one-row run spent a third of its CPU on
    processes that never posted. Only a small plain file is counted (its lines, at least its
    rows); a bigger or compressed one keeps every CPU.
    """
    if most <= 1 or is_gzip(path.name) or path.stat().st_size > SMALL_FILE_BYTES:
        return most
    lines = path.read_bytes().count(b"\n") + 1
    messages = math.ceil(lines / int(parameters["RowsPerMessage"]))
    return max(1, min(most, messages))


def wait_for_results(jobs: JobStore, job_id: str) -> Job:
    """The job once its reporter has combined the results file (it does so after the last row)."""
    deadline = time.monotonic() + RESULTS_TIMEOUT_S
    while time.monotonic() < deadline:
        job = jobs.get(job_id)
        if job is not None and job.results_key:
            return job
        time.sleep(POLL_S)
    raise FanoutError(f"the results of job {job_id} were not combined within {RESULTS_TIMEOUT_S:.0f}s")


def save_results(session: boto3.Session, job: Job, path: Path) -> None:
    header, records = read_results(session.client("s3"), job)
    with path.open("w", encoding="utf-8", newline="") as out:
        write_results(header, records, out, "csv", failed_only=False)


def stack_format(parameters: dict[str, str]) -> CsvFormat:
    """The files' format as the local stack will be told it: the template's Csv* parameters."""
    values = parameter_values(load_template(), parameters, strict=False)  # only the Csv* ones matter
    return CsvFormat(
        delimiter=values["CsvDelimiter"],
        quote=values["CsvQuote"],
        encoding=values["CsvEncoding"],
        header=values["CsvHeader"],
    )


def idle_check(session: boto3.Session, outputs: dict[str, str]) -> IdleCheck:
    sqs = session.client("sqs")
    return IdleCheck(
        sqs, [outputs["WorkQueueUrl"], outputs["IntakeQueueUrl"]], dead_letters_for(session, outputs)
    )


def _keep_dashboard(session: boto3.Session, stack: LocalStack, err: TextIO) -> None:
    """The run's dashboard, kept for `fanout dashboard`: the emulator goes when the run ends."""
    try:
        save_last_run(read_dashboard(session, stack.outputs, "the last `fanout run`"))
    except (ClientError, BotoCoreError, OSError) as exc:
        print(f"fanout run: warning: the run's dashboard was not kept: {exc}", file=err)


def summary(report: dict[str, Any]) -> str:
    line = (
        f"{report['job_id']}: {report['state']}: "
        f"{report['rows_posted']} of {report['rows_total']} rows posted, "
        f"{report['rows_failed']} failed, {report['rows_rejected']} rejected in {report['duration_s']:.1f}s "
        f"({report['rows_per_s']:.0f} rows/s)"
    )
    if report.get("error"):
        line += f": {report['error']}"
    return line
