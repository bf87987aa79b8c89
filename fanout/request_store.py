"""Request specs as objects under requests/ in the bucket, pinned by version for a job's life.

A file names its spec with the object metadata `x-amz-meta-fanout-request` (a key under
requests/, which `fanout drop --request` sets, with `x-amz-meta-fanout-request-version` for the
version it uploaded); without it the stack's DefaultRequest applies, and without that the default
request. The splitter pins the version it read in the job record and in every work message, so
redeliveries and redrives send the same requests even after the object changes. The bucket keeps
replaced versions 30 days, longer than a message can stay in the dead-letter queue (14 days).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from fanout.contract import RequestRef
from fanout.errors import InputError, RetryableError
from fanout.formats import METADATA_PREFIX
from fanout.request_spec import RequestSpec, parse_spec_json

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

REQUESTS_PREFIX = "requests/"
METADATA_REQUEST = METADATA_PREFIX + "request"
METADATA_REQUEST_VERSION = METADATA_PREFIX + "request-version"
# S3 errors that mean the object (or the version) is not there to read: retrying cannot help.
_MISSING = frozenset(
    {"NoSuchKey", "NoSuchVersion", "404", "NotFound", "AccessDenied", "403", "InvalidArgument"}
)


def request_key(name: str) -> str:
    """The object key a spec name stands for: `customers.json` and `requests/customers.json` alike."""
    name = name.strip().lstrip("/")
    key = name if name.startswith(REQUESTS_PREFIX) else REQUESTS_PREFIX + name
    if key == REQUESTS_PREFIX:
        raise InputError("a request spec name is empty")
    return key


def requested(metadata: Mapping[str, str], default_request: str) -> tuple[str, str] | None:
    """The spec a file asks for (key, version or ""), else the stack's default; None: the default request."""
    name = metadata.get(METADATA_REQUEST, "").strip()
    if name:
        return request_key(name), metadata.get(METADATA_REQUEST_VERSION, "").strip()
    if default_request:
        return request_key(default_request), ""
    return None


class RequestStore:
    """Reads specs from S3; each object version is read and parsed once per execution environment."""

    def __init__(self, s3: S3Client) -> None:
        self._s3 = s3
        self._lock = threading.Lock()
        self._specs: dict[RequestRef, RequestSpec] = {}

    def pin(self, bucket: str, key: str, version: str = "") -> tuple[RequestRef, RequestSpec]:
        """The spec at `key` (that version, or the latest) and the version read."""
        return self._read(RequestRef(bucket, key, version))

    def load(self, ref: RequestRef) -> RequestSpec:
        """The spec a work message names. InputError if it is gone or invalid; RetryableError if S3 fails."""
        with self._lock:
            spec = self._specs.get(ref)
        if spec is None:
            _, spec = self._read(ref)
        return spec

    def _read(self, ref: RequestRef) -> tuple[RequestRef, RequestSpec]:
        args = {"Bucket": ref.bucket, "Key": ref.key}
        if ref.version:
            args["VersionId"] = ref.version
        try:
            response = self._s3.get_object(**args)  # type: ignore[arg-type]
            text = response["Body"].read()
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _MISSING:
                raise InputError(f"request spec {ref}: cannot read it ({code})") from None
            raise RetryableError(f"request spec {ref}: S3 answered {code}") from exc
        except BotoCoreError as exc:
            raise RetryableError(f"request spec {ref}: {exc}") from exc
        pinned = RequestRef(ref.bucket, ref.key, str(response.get("VersionId") or ref.version))
        try:
            spec, _ = parse_spec_json(text)
        except InputError as exc:
            raise InputError(f"request spec {pinned}: {exc}") from None
        with self._lock:
            self._specs[pinned] = spec
        return pinned, spec
