"""A dropped file reaches S3 in parts, and is the same object as one PutObject would make."""

from __future__ import annotations

import os
from pathlib import Path

import boto3

from fanout.limits import S3_MULTIPART_MAX_PARTS
from infra.local.stack import LocalStack
from infra.ops.upload import UPLOAD_PART_BYTES, part_size_for, upload


def test_a_file_larger_than_a_part_is_uploaded_in_parts(
    session: boto3.Session, stack: LocalStack, tmp_path: Path
) -> None:
    s3, bucket = session.client("s3"), stack.outputs["DataBucketName"]
    source = tmp_path / "big.csv"
    source.write_bytes(os.urandom(2 * UPLOAD_PART_BYTES + 100))
    # WHEN it is uploaded
    version, etag = upload(s3, source, bucket, "incoming/big.csv", {"fanout-delimiter": ";"})
    # THEN the object is the file, made of three parts, with its metadata, at the version returned
    got = s3.get_object(Bucket=bucket, Key="incoming/big.csv", VersionId=str(version))
    assert got["Body"].read() == source.read_bytes()
    assert got["ETag"] == etag and etag.endswith('-3"')
    assert got["Metadata"] == {"fanout-delimiter": ";"}
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_a_small_file_is_one_put(session: boto3.Session, stack: LocalStack, tmp_path: Path) -> None:
    s3, bucket = session.client("s3"), stack.outputs["DataBucketName"]
    source = tmp_path / "small.csv"
    source.write_bytes(b"id\n1\n")
    _, etag = upload(s3, source, bucket, "incoming/small.csv", {})
    assert "-" not in etag
    assert s3.get_object(Bucket=bucket, Key="incoming/small.csv")["Body"].read() == b"id\n1\n"


def test_parts_grow_past_the_default_only_when_a_file_needs_more_than_s3_allows() -> None:
    assert part_size_for(10) == UPLOAD_PART_BYTES
    huge = 100 * S3_MULTIPART_MAX_PARTS * UPLOAD_PART_BYTES
    assert part_size_for(huge) * S3_MULTIPART_MAX_PARTS >= huge
