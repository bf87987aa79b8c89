"""fanout local up --api-url URL [--port P]: the local stack in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import sys
import threading
import time
from typing import Any

from fanout.jobs import Job, JobStore
from infra.cli.flags import (
    add_budget_flags,
    add_parameter_flag,
    add_request_flag,
    add_scale_flags,
    add_secret_flag,
    command_group,
    given_secrets,
    stack_parameters,
)
from infra.cli.preflight import check_api_url
from infra.cli.progress import progress_line
from infra.cli.request_files import RequestFile, read_request_file
from infra.local.cpus import DEFAULT_PROCESSES
from infra.local.emulator import Emulator
from infra.local.endpoint import load_client_models, use_endpoint
from infra.local.runtime import LocalRuntime
from infra.local.secrets import put_secrets
from infra.local.stack import LOCAL_STACK_SERVICES, handlers_importing, local_stack

DEFAULT_PORT = 4566
WATCH_EVERY_S = 2.0


def register(commands: Any) -> None:
    actions = command_group(
        commands, "local", help="the local stack", description="Run the local stack on this machine."
    )
    up: argparse.ArgumentParser = actions.add_parser(
        "up",
        help="run the local stack in the foreground until Ctrl-C",
        description="Start the embedded AWS emulator on a loopback port, create the resources "
        "template.yaml declares, and run the splitter and workers on every file dropped into "
        "incoming/. Other fanout commands reach it with --endpoint-url or AWS_ENDPOINT_URL.",
    )
    up.add_argument("--api-url", required=True, metavar="URL", help="the API each row is POSTed to")
    up.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"the emulator's loopback port (default {DEFAULT_PORT})",
    )
    add_scale_flags(up)
    add_budget_flags(up)
    add_parameter_flag(up)
    add_secret_flag(up)
    add_request_flag(
        up,
        help="a request spec (YAML or JSON) for every file dropped without one of its own: checked, "
        "uploaded under requests/ and made the stack's DefaultRequest (a file's columns are "
        "checked against it when its job starts; default: a POST of each row's strings)",
    )
    up.set_defaults(execute=execute_up)


def execute_up(args: argparse.Namespace, stop: threading.Event | None = None) -> int:
    parameters = stack_parameters(args)
    request = read_request_file(args.request) if args.request else None
    if request is not None:
        # Before anything touches the network: a credential for a plain-http host is never sent.
        request.check_auth(args.api_url, given_secrets(args))
        parameters = request.as_stack_default(parameters)
    check_api_url(args.api_url)
    stop = stop or threading.Event()
    with Emulator(port=args.port) as emulator:
        session = use_endpoint(emulator.url)
        load_client_models(session, LOCAL_STACK_SERVICES)  # while the emulator boots
        with handlers_importing():  # while this process waits on the emulator
            emulator.wait_ready()
            stack = local_stack(session, parameters, create=True)
        put_secrets(session, stack, given_secrets(args))
        if request is not None:
            request.upload(session, stack.outputs["DataBucketName"])
        jobs = JobStore(session.client("dynamodb"), stack.outputs["JobsTableName"])
        with LocalRuntime(session, stack, args.concurrency, args.processes or DEFAULT_PROCESSES):
            try:  # from here on, Ctrl-C is the way to stop
                print(
                    f"local stack up at {emulator.endpoint_url} (Ctrl-C stops it)\n"
                    f"  bucket: s3://{stack.outputs['DataBucketName']}/incoming/\n"
                    f"{_default_request_line(request)}"
                    f"  in another terminal:\n"
                    f"    export AWS_ENDPOINT_URL={emulator.endpoint_url}\n"
                    f"    fanout drop FILE.csv && fanout status\n"
                    f"    fanout dashboard --out dashboard.html",
                    flush=True,
                )
                _watch(jobs, stop)
            except KeyboardInterrupt:
                print("stopping", file=sys.stderr)
    return 0


def _default_request_line(request: RequestFile | None) -> str:
    if request is None:
        return ""
    return f"  default request: {request.key} (from {request.path}; a file's own --request wins)\n"


def _watch(jobs: JobStore, stop: threading.Event) -> None:
    """Prints a job's progress whenever it changes."""
    seen: dict[str, tuple[int, str]] = {}
    while not stop.wait(WATCH_EVERY_S):
        for job in jobs.list():
            mark = (job.rows_settled, job.state)
            if seen.get(job.job_id) != mark:
                seen[job.job_id] = mark
                print(f"{job.job_id}: {progress_line(job, _elapsed(job))}", flush=True)


def _elapsed(job: Job) -> float:
    return max(0.001, time.time() - job.started)
