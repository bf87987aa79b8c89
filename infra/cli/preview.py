"""fanout preview FILE [--request SPEC] [--rows N] [--api-url URL]: the requests, without sending them."""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

from fanout.auth_spec import masked_headers
from fanout.errors import InputError
from fanout.rendering import UNNAMED_ENDPOINT, Endpoint, Request, RequestRenderer
from fanout.request_spec import DEFAULT_REQUEST, RequestSpec, check_auth_destination
from infra.cli.flags import add_format_flags, add_secret_flag, format_metadata, given_secrets, positive_int
from infra.cli.preflight import check_csv, file_chunks
from infra.cli.request_files import read_request_file
from infra.cli.run_job import stack_format
from splitter.core import unless_unsendable
from splitter.records import CsvRecords, Rejected

DEFAULT_ROWS = 5
MASK = "***"
# Header names whose values are credentials: shown masked, whatever the spec or stack set.
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key", "api-key"})
SECRET_WORDS = ("secret", "token", "password", "apikey", "api-key", "api_key")
# The job id is known only once the file is in the bucket (one job per object version).
JOB_STANDIN = "{job}"


def register(commands: Any) -> None:
    cmd: argparse.ArgumentParser = commands.add_parser(
        "preview",
        help="show the requests a file's rows become, without sending them",
        description="Render the first N rows of FILE into the requests the workers would send "
        "(method, URL, headers with secrets masked, body), one JSON line each, and every row "
        "that would be rejected, with the reason. Sends nothing and needs no stack.",
    )
    cmd.add_argument("file", type=Path, metavar="FILE", help="the CSV file (header row first)")
    cmd.add_argument("--request", type=Path, metavar="SPEC", help="a request spec (YAML or JSON)")
    cmd.add_argument(
        "--rows",
        type=positive_int,
        default=DEFAULT_ROWS,
        metavar="N",
        help=f"requests shown (default {DEFAULT_ROWS})",
    )
    cmd.add_argument(
        "--api-url", metavar="URL", help="the API URL relative spec URLs join (default: shown as {ApiUrl})"
    )
    add_secret_flag(cmd)
    add_format_flags(cmd)
    cmd.set_defaults(execute=execute)


def execute(args: argparse.Namespace) -> int:
    spec = read_request_file(args.request).spec if args.request else DEFAULT_REQUEST
    endpoint = Endpoint.parse(args.api_url, "--api-url") if args.api_url else UNNAMED_ENDPOINT
    fmt = stack_format({}).overridden_by(format_metadata(args))
    check_csv(args.file, fmt)
    records = CsvRecords(file_chunks(args.file), fmt)
    secrets = given_secrets(args)
    check_auth(spec, args.api_url, secrets, sys.stderr)
    shown = io.StringIO()
    preview(args.file, records, spec, endpoint, args.rows, args.request, shown, sys.stderr)
    sys.stdout.write(mask_values(shown.getvalue(), secrets.values()))
    return 0


def check_auth(spec: RequestSpec, api_url: str | None, secrets: dict[str, str], err: TextIO) -> None:
    """Where the credential would go, and whether the secrets it names were given (a note only:
    a preview needs no secret, but `fanout run` will)."""
    if spec.auth is None:
        return
    if api_url:
        check_auth_destination(spec, api_url, "--api-url")
    for name in spec.auth.secrets:
        if name not in secrets:
            print(f"preview: auth names secret {name}: fanout run will need --secret {name}=@FILE", file=err)


def mask_values(text: str, values: Iterable[str]) -> str:
    """`text` with every secret value given (--secret) replaced by ***, wherever a spec put it."""
    for value in values:
        text = text.replace(value, MASK)
    return text


def preview(
    path: Path,
    records: CsvRecords,
    spec: RequestSpec,
    endpoint: Endpoint,
    rows: int,
    spec_path: Path | None,
    out: TextIO,
    err: TextIO,
) -> None:
    try:
        renderer = RequestRenderer(spec, records.columns, endpoint)
    except InputError as exc:
        raise InputError(f"request spec {spec_path}: {exc}") from None
    shown = rejected = total = 0
    for record in records:
        total += 1
        line: dict[str, Any] | None = None
        if not isinstance(record, Rejected):
            record = unless_unsendable(renderer, JOB_STANDIN, record)
        if isinstance(record, Rejected):
            line = {"row": record.number, "rejected": record.reason, "excerpt": record.excerpt}
            if record.column:
                line["column"] = record.column
        elif shown < rows:
            line = request_line(record.number, renderer.render(JOB_STANDIN, record))
            shown += 1
        if line is not None:
            rejected += "rejected" in line
            print(json.dumps(line, ensure_ascii=False), file=out)
    print(
        f"preview: {path}: {total} rows, {shown} requests shown, {rejected} rows would be rejected", file=err
    )


def request_line(number: int, request: Request) -> dict[str, Any]:
    return {
        "row": number,
        "method": request.method,
        "url": request.url,
        "headers": masked_headers(request.auth, masked(request.headers)),
        "body": None if request.body is None else json.loads(request.body),
    }


def masked(headers: dict[str, str]) -> dict[str, str]:
    return {name: MASK if is_secret_header(name) else value for name, value in headers.items()}


def is_secret_header(name: str) -> bool:
    lowered = name.lower()
    return lowered in SECRET_HEADERS or any(word in lowered for word in SECRET_WORDS)
