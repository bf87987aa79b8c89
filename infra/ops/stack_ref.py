"""Finding a stack the way AWS tools do: --endpoint-url / AWS_ENDPOINT_URL, or --stack NAME."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from urllib.parse import urlsplit

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from fanout.errors import InputError
from infra.local.endpoint import use_endpoint
from infra.local.stack import local_stack


@dataclass(frozen=True)
class StackConnection:
    session: boto3.Session
    outputs: dict[str, str]
    where: str


def add_stack_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("which stack")
    group.add_argument(
        "--endpoint-url",
        metavar="URL",
        default=None,
        help="a local or emulated endpoint, such as the one `fanout local up` prints "
        "(default: $AWS_ENDPOINT_URL)",
    )
    group.add_argument(
        "--stack", metavar="NAME", help="a deployed stack, found by its CloudFormation outputs"
    )
    group.add_argument("--region", metavar="REGION", help="the deployed stack's region (default: AWS config)")


def connect(args: argparse.Namespace) -> StackConnection:
    if getattr(args, "stack", None):
        return _deployed(args.stack, args.region)
    endpoint = getattr(args, "endpoint_url", None) or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        return _local(endpoint)
    raise InputError(
        "which stack? give --stack NAME for a deployed one, or --endpoint-url URL (or AWS_ENDPOINT_URL) "
        "for a local one started with `fanout local up`"
    )


def _deployed(name: str, region: str | None) -> StackConnection:
    session = boto3.Session(region_name=region) if region else boto3.Session()
    try:
        stacks = session.client("cloudformation").describe_stacks(StackName=name)["Stacks"]
    except (ClientError, BotoCoreError) as exc:
        raise InputError(f"stack {name}: {exc}") from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    return StackConnection(session, outputs, f"stack {name}")


def _local(endpoint: str) -> StackConnection:
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        # botocore would stop on it with a traceback ("Invalid endpoint").
        raise InputError(
            f"--endpoint-url / AWS_ENDPOINT_URL {endpoint!r} is not an http(s) URL "
            "(`fanout local up` prints the one to use)"
        )
    session = use_endpoint(endpoint)
    try:
        stack = local_stack(session, {}, create=False)
    except (ClientError, BotoCoreError) as exc:
        raise InputError(f"no Fanout stack at {endpoint} (is `fanout local up` running?): {exc}") from None
    return StackConnection(session, stack.outputs, endpoint)
