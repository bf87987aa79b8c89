"""A file into S3 in parts, so neither this process nor the endpoint holds it whole.

One PutObject sends the file as one request body, which the emulator reads into memory whole
(moto, through werkzeug): 1 GB for a 1 GB file. A multipart upload sends it a part at a time.
The parts go one after another: a part in flight is all this process holds.

The completion is the one call whose answer can take long: S3 answers when it has assembled
the object ("could take several minutes", S3 API reference, CompleteMultipartUpload), and the
emulator joins the parts on disk before it answers. Waited for with the local clients' 20 s
read timeout, a 1 GB file's completion was sent again while the first was still joining, and
the run failed with a 500 (issue 16). So it is sent by a client that waits long (and an
answer of NoSuchUpload is checked against the object, fanout/s3_objects.py).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from fanout.limits import S3_MIN_PART_BYTES, S3_MULTIPART_MAX_PARTS
from fanout.s3_objects import UploadGone, complete_upload

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

# s3transfer's default part size; a file too big for 10,000 of them gets larger parts.
UPLOAD_PART_BYTES = 8 * 1024 * 1024
# How long a completion's answer may take. S3 sends spaces while it assembles the object, so
# on AWS only a stalled connection waits this long; the emulator sends nothing until it has
# joined the parts (256 MB: 1.1 s at load 4-5; at load 20 a 1 GB file's outlasted the local
# clients' 20 s read timeout, issue 16).
COMPLETE_READ_TIMEOUT_S = 600
# Merged into the session's client configuration (its retries and connect timeout stay).
COMPLETE_CLIENT_CONFIG = Config(read_timeout=COMPLETE_READ_TIMEOUT_S)


def part_size_for(size: int) -> int:
    return max(UPLOAD_PART_BYTES, S3_MIN_PART_BYTES, math.ceil(size / S3_MULTIPART_MAX_PARTS))


def completion_client(session: boto3.Session) -> S3Client:
    """An S3 client of the session's that waits COMPLETE_READ_TIMEOUT_S for an answer."""
    return session.client("s3", config=COMPLETE_CLIENT_CONFIG)


def upload(
    s3: S3Client,
    path: Path,
    bucket: str,
    key: str,
    metadata: dict[str, str],
    *,
    completing: S3Client,
) -> tuple[str | None, str]:
    """Uploads `path` to s3://bucket/key; returns the new object's version id and ETag.

    `completing` sends the completion of a multipart upload (see `completion_client`).
    """
    size = path.stat().st_size
    part_size = part_size_for(size)
    if size <= part_size:
        with path.open("rb") as body:
            response = s3.put_object(Bucket=bucket, Key=key, Body=body, Metadata=metadata)
        return response.get("VersionId"), response["ETag"]
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key, Metadata=metadata)["UploadId"]
    try:
        parts: list[CompletedPartTypeDef] = []
        with path.open("rb") as source:
            for number in range(1, math.ceil(size / part_size) + 1):
                part = s3.upload_part(
                    Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=source.read(part_size)
                )
                parts.append({"PartNumber": number, "ETag": part["ETag"]})
        return complete_upload(completing, bucket, key, upload_id, parts)
    except UploadGone:
        raise  # nothing left to abort
    except BaseException as exc:
        # An unfinished upload's parts are kept (and billed, on AWS) until it is aborted.
        try:
            s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        except ClientError as aborting:
            exc.add_note(f"aborting upload {upload_id} failed too: {aborting}")
        raise
