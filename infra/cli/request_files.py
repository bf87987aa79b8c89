"""A request spec file given to the CLI (`--request SPEC`): YAML or JSON, checked before anything is sent.

The functions read specs as JSON only (the Lambda package carries no YAML library), so the CLI
turns a YAML file into the JSON it uploads under requests/.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

import boto3
import yaml

from fanout.errors import InputError
from fanout.rendering import UNNAMED_ENDPOINT, RequestRenderer
from fanout.request_spec import RequestSpec, check_auth_destination, parse_spec, spec_json
from fanout.request_store import METADATA_REQUEST, METADATA_REQUEST_VERSION, request_key

_UNSAFE_KEY_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
# The template parameter naming the spec for files that name none.
DEFAULT_REQUEST_PARAMETER = "DefaultRequest"


@dataclass(frozen=True)
class RequestFile:
    path: Path
    spec: RequestSpec
    stored: str  # the JSON document uploaded under requests/

    @property
    def key(self) -> str:
        """Where it is uploaded: requests/<file stem>.json (S3 metadata that names it must be ASCII)."""
        return request_key(_UNSAFE_KEY_CHARS.sub("-", self.path.stem).strip("-") or "request") + ".json"

    def upload(self, session: boto3.Session, bucket: str) -> dict[str, str]:
        """Puts the spec under requests/; the metadata a dropped file names it (and its version) with."""
        response = session.client("s3").put_object(
            Bucket=bucket, Key=self.key, Body=self.stored.encode("utf-8"), ContentType="application/json"
        )
        return {METADATA_REQUEST: self.key, METADATA_REQUEST_VERSION: response.get("VersionId", "")}

    def as_stack_default(self, parameters: Mapping[str, str]) -> dict[str, str]:
        """The template parameters with this spec (once uploaded) as the stack's DefaultRequest."""
        if parameters.get(DEFAULT_REQUEST_PARAMETER):
            raise InputError(
                f"--request {self.path} and --param {DEFAULT_REQUEST_PARAMETER}= both name the "
                "stack's default request: give one"
            )
        return {**parameters, DEFAULT_REQUEST_PARAMETER: self.key}

    def check_columns(self, columns: tuple[str, ...]) -> None:
        """The spec against a file's header: every placeholder and typed column must be there."""
        try:
            RequestRenderer(self.spec, columns, UNNAMED_ENDPOINT)
        except InputError as exc:
            raise InputError(f"request spec {self.path}: {exc}") from None

    def check_auth(self, api_url: str, secrets: Collection[str]) -> None:
        """Where the spec's credential would go (https, or this machine), and that every secret
        its auth: names is given: a local stack starts with none."""
        if self.spec.auth is None:
            return
        try:
            check_auth_destination(self.spec, api_url, "--api-url")
        except InputError as exc:
            raise InputError(f"request spec {self.path}: {exc}") from None
        for name in self.spec.auth.secrets:
            if name not in secrets:
                raise InputError(
                    f"request spec {self.path}: auth names secret {name}: give it with "
                    f"--secret {name}=@FILE (or {name}=env:VAR)"
                )


def read_request_file(path: Path) -> RequestFile:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"request spec {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"request spec {path}: cannot read it: {exc}") from None
    try:
        document = _parse(text, path)
        return RequestFile(path, parse_spec(document), spec_json(document))
    except InputError as exc:
        raise InputError(f"request spec {path}: {exc}") from None


def _parse(text: str, path: Path) -> object:
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(f"not valid YAML: {problem}{where}") from None
