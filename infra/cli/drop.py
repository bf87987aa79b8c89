"""fanout drop FILE: upload into incoming/, the S3 drop trigger."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from fanout.contract import job_id_for
from fanout.errors import InputError
from infra.cli.flags import (
    add_format_flags,
    add_request_flag,
    add_threshold_flags,
    format_metadata,
    stack_command,
)
from infra.cli.preflight import check_csv
from infra.cli.request_files import read_request_file
from infra.cli.run_job import drop_file, stack_format
from infra.ops.stack_ref import connect


def register(commands: Any) -> None:
    cmd = stack_command(
        commands,
        "drop",
        execute,
        help="upload a file into incoming/ (the S3 drop trigger)",
        description="Upload FILE into the stack's bucket under incoming/, which starts a job; "
        "prints the job id.",
    )
    cmd.add_argument("file", type=Path, metavar="FILE", help="a .csv file")
    add_request_flag(cmd)
    add_format_flags(cmd)
    add_threshold_flags(cmd)


def execute(args: argparse.Namespace) -> int:
    path: Path = args.file
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if path.suffix.lower() != ".csv":
        raise InputError(f"{path}: only *.csv files under incoming/ start a job")
    metadata = format_metadata(args)
    request = read_request_file(args.request) if args.request else None
    if request is not None:
        request.check_columns(check_csv(path, stack_format({}).overridden_by(metadata)))
    stack = connect(args)
    if request is not None:
        metadata.update(request.upload(stack.session, stack.outputs["DataBucketName"]))
    bucket, key, version = drop_file(stack.session, stack.outputs, path, metadata)
    print(f"{job_id_for(bucket, key, version)}\ts3://{bucket}/{key}")
    return 0
