"""fanout throttle --max-concurrency N | pause | resume: the worker's event source mapping, live."""

from __future__ import annotations

import argparse
from typing import Any

from fanout.errors import InputError
from infra.cli.flags import stack_command, whole_number
from infra.cli.resume_job import resume_job
from infra.ops.stack_ref import StackConnection, connect

# ScalingConfig.MaximumConcurrency: 2 to 1,000 (Lambda API Reference, ScalingConfig).
MIN_MAPPING_CONCURRENCY, MAX_MAPPING_CONCURRENCY = 2, 1000


def register(commands: Any) -> None:
    throttle = stack_command(
        commands,
        "throttle",
        execute_throttle,
        help="change how many worker invocations may run at once",
        description="Set the work queue mapping's maximum concurrency (ScalingConfig.MaximumConcurrency) "
        "while jobs run; it stays within the worker's reserved concurrency.",
    )
    throttle.add_argument(
        "--max-concurrency",
        type=whole_number(MIN_MAPPING_CONCURRENCY, MAX_MAPPING_CONCURRENCY),
        required=True,
        metavar="N",
    )
    stack_command(
        commands,
        "pause",
        execute_pause,
        help="stop starting worker invocations",
        description="Disable the work queue mapping: running invocations finish, messages wait in the queue.",
    )
    resume = stack_command(
        commands,
        "resume",
        execute_resume,
        help="start worker invocations again, or continue a cancelled or halted job",
        description="Without JOB: enable the work queue mapping (after `fanout pause`). With JOB: "
        "continue a cancelled or halted job: every row not yet posted is posted (its held rows, "
        "its dead-lettered rows and the rest of its file), none twice.",
    )
    resume.add_argument("job", nargs="?", metavar="JOB", help="a cancelled or halted job")


def _work_mappings(stack: StackConnection) -> list[str]:
    lam = stack.session.client("lambda")
    function = stack.outputs["WorkerFunctionName"]
    mappings = lam.list_event_source_mappings(FunctionName=function)["EventSourceMappings"]
    work_arn = stack.session.client("sqs").get_queue_attributes(
        QueueUrl=stack.outputs["WorkQueueUrl"], AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    found = [m["UUID"] for m in mappings if m.get("EventSourceArn") == work_arn]
    if not found:
        raise InputError(f"{function} has no event source mapping on the work queue in {stack.where}")
    return found


def _update(args: argparse.Namespace, **change: Any) -> list[str]:
    stack = connect(args)
    lam = stack.session.client("lambda")
    ids = _work_mappings(stack)
    for uuid in ids:
        lam.update_event_source_mapping(UUID=uuid, **change)
    return ids


def execute_throttle(args: argparse.Namespace) -> int:
    _update(args, ScalingConfig={"MaximumConcurrency": args.max_concurrency})
    print(f"worker mapping: at most {args.max_concurrency} invocations at once")
    return 0


def execute_pause(args: argparse.Namespace) -> int:
    _update(args, Enabled=False)
    print("worker mapping disabled: running invocations finish, messages wait (fanout resume)")
    return 0


def execute_resume(args: argparse.Namespace) -> int:
    if args.job:
        return resume_job(args)
    _update(args, Enabled=True)
    print("worker mapping enabled")
    return 0
