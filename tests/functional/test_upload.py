"""A dropped file reaches S3 in parts, and is the same object as one PutObject would make."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from fanout.limits import S3_MIN_PART_BYTES, S3_MULTIPART_MAX_PARTS
from fanout.s3_objects import multipart_etag
from infra.local.stack import LocalStack
from infra.ops.upload import UPLOAD_PART_BYTES, completion_client, part_size_for, upload

if TYPE_CHECKING:
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef


def test_a_file_larger_than_a_part_is_uploaded_in_parts(
    session: boto3.Session, stack: LocalStack, tmp_path: Path
) -> None:
    s3, bucket = session.client("s3"), stack.outputs["DataBucketName"]
    source = tmp_path / "big.csv"
    source.write_bytes(os.urandom(2 * UPLOAD_PART_BYTES + 100))
    # WHEN it is uploaded
    version, etag = upload(
        s3,
        source,
        bucket,
        "incoming/big.csv",
        {"fanout-delimiter": ";"},
        completing=completion_client(session),
    )
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
    _, etag = upload(s3, source, bucket, "incoming/small.csv", {}, completing=s3)
    assert "-" not in etag
    assert s3.get_object(Bucket=bucket, Key="incoming/small.csv")["Body"].read() == b"id\n1\n"


def test_parts_grow_past_the_default_only_when_a_file_needs_more_than_s3_allows() -> None:
    assert part_size_for(10) == UPLOAD_PART_BYTES
    huge = 100 * S3_MULTIPART_MAX_PARTS * UPLOAD_PART_BYTES
    assert part_size_for(huge) * S3_MULTIPART_MAX_PARTS >= huge


def test_a_completion_sent_again_while_the_first_is_joining_answers_the_same_object(
    session: boto3.Session, stack: LocalStack
) -> None:
    # GIVEN an upload of 20 parts, whose joining takes the emulator far longer than the two
    # requests below take to arrive (a completion retried by a client that stopped waiting)
    bucket = stack.outputs["DataBucketName"]
    s3 = session.client("s3", config=Config(retries={"total_max_attempts": 1}))
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="incoming/joined.csv")["UploadId"]
    part = os.urandom(S3_MIN_PART_BYTES)
    parts: list[CompletedPartTypeDef] = []
    for number in range(1, 21):
        answer = s3.upload_part(
            Bucket=bucket, Key="incoming/joined.csv", UploadId=upload_id, PartNumber=number, Body=part
        )
        parts.append({"PartNumber": number, "ETag": answer["ETag"]})
    expected_etag = multipart_etag([answer["ETag"] for answer in parts])
    both = threading.Barrier(2)

    def complete() -> dict[str, Any]:
        both.wait()
        return dict(
            s3.complete_multipart_upload(
                Bucket=bucket, Key="incoming/joined.csv", UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        )

    # WHEN two completions of it arrive together, neither retried
    with ThreadPoolExecutor(2) as pool:
        answers = [future.result() for future in [pool.submit(complete), pool.submit(complete)]]
    # THEN both answer the one object the parts make, and there is one version of it
    assert [answer["ETag"] for answer in answers] == [expected_etag, expected_etag]
    assert answers[0]["VersionId"] == answers[1]["VersionId"]
    versions = s3.list_object_versions(Bucket=bucket, Prefix="incoming/joined.csv")["Versions"]
    assert [(version["VersionId"], version["ETag"]) for version in versions] == [
        (answers[0]["VersionId"], expected_etag)
    ]
    body = s3.get_object(Bucket=bucket, Key="incoming/joined.csv")["Body"].read()
    assert body == part * 20


def test_a_completion_of_an_unknown_upload_is_no_such_upload(
    session: boto3.Session, stack: LocalStack
) -> None:
    s3 = session.client("s3")
    with pytest.raises(ClientError, match="NoSuchUpload"):
        s3.complete_multipart_upload(
            Bucket=stack.outputs["DataBucketName"],
            Key="incoming/none.csv",
            UploadId="no-such-upload",
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"00"'}]},
        )
