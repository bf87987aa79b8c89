"""A file into S3 in parts, so neither this process nor the endpoint holds it whole.

One PutObject sends the file as one request body, which the emulator reads into memory whole
(moto, through werkzeug): 1 GB for a 1 GB file. A multipart upload sends it a part at a time.
The parts go one after another: a part in flight is all this process holds.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from fanout.limits import S3_MIN_PART_BYTES, S3_MULTIPART_MAX_PARTS

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

# s3transfer's default part size; a file too big for 10,000 of them gets larger parts.
UPLOAD_PART_BYTES = 8 * 1024 * 1024


def part_size_for(size: int) -> int:
    return max(UPLOAD_PART_BYTES, S3_MIN_PART_BYTES, math.ceil(size / S3_MULTIPART_MAX_PARTS))


def upload(
    s3: S3Client, path: Path, bucket: str, key: str, metadata: dict[str, str]
) -> tuple[str | None, str]:
    """Uploads `path` to s3://bucket/key; returns the new object's version id and ETag."""
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
        done = s3.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )
    except BaseException:
        # An unfinished upload's parts are kept (and billed, on AWS) until it is aborted.
        s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        raise
    return done.get("VersionId"), done["ETag"]
