"""fanout dashboard [--out FILE.html]: the stack's CloudWatch dashboard drawn as one HTML page."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from fanout.errors import InputError
from infra.cli.flags import stack_command
from infra.ops.dashboard_data import last_run_path, read_dashboard
from infra.ops.dashboard_page import render_page
from infra.ops.stack_ref import connect

DEFAULT_OUT = Path("fanout-dashboard.html")


def register(commands: Any) -> None:
    cmd = stack_command(
        commands,
        "dashboard",
        execute,
        help="the CloudWatch dashboard as an HTML page",
        description="Draw the dashboard template.yaml declares, with the stack's CloudWatch data, as one "
        "self-contained HTML page (no network needed to view it). With no stack named, the last "
        "`fanout run` on this machine is drawn.",
    )
    cmd.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        metavar="FILE.html",
        help=f"where to write it (default {DEFAULT_OUT})",
    )


def _stack_named(args: argparse.Namespace) -> bool:
    return bool(args.stack or args.endpoint_url or os.environ.get("AWS_ENDPOINT_URL"))


def execute(args: argparse.Namespace) -> int:
    if _stack_named(args):
        stack = connect(args)
        try:
            data = read_dashboard(stack.session, stack.outputs, stack.where)
        except (ClientError, BotoCoreError) as exc:
            raise InputError(f"could not read the dashboard from {stack.where}: {exc}") from None
    elif last_run_path().exists():
        data = json.loads(last_run_path().read_text(encoding="utf-8"))
    else:
        raise InputError(
            "no stack named and no `fanout run` on this machine yet: give --endpoint-url URL (or "
            "AWS_ENDPOINT_URL) for a stack started with `fanout local up`, or --stack NAME for a deployed one"
        )
    args.out.write_text(render_page(data), encoding="utf-8")
    print(f"{args.out}: {len(data['widgets'])} widgets from {data.get('source', 'CloudWatch')}")
    return 0
