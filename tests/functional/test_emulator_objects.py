"""The emulator's S3 streams object bodies and answers what S3 answers: bytes, ranges, ETags, checksums."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from pathlib import Path
from typing import Any

import boto3
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from infra.local.emulator_objects import OBJECT_CHUNK_BYTES, running_checksum
from infra.local.stack import LocalStack

MB = 1024 * 1024


@pytest.fixture
def body() -> bytes:
    # Not a whole number of chunks, so the last chunk is a short one.
    return os.urandom(3 * OBJECT_CHUNK_BYTES + 12_345)


def test_a_get_answers_the_whole_object_over_many_chunks(
    session: boto3.Session, stack: LocalStack, body: bytes
) -> None:
    s3, bucket = session.client("s3"), stack.outputs["DataBucketName"]
    s3.put_object(Bucket=bucket, Key="big.bin", Body=body)
    # WHEN the object is read whole, twice on one connection
    first = s3.get_object(Bucket=bucket, Key="big.bin")
    second = s3.get_object(Bucket=bucket, Key="big.bin")
    # THEN every byte arrives, with the object's length and ETag
    assert first["Body"].read() == body
    assert second["Body"].read() == body
    assert first["ContentLength"] == len(body)
    assert first["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'


@pytest.mark.parametrize(
    ("spec", "start", "stop"),
    [
        ("bytes=0-0", 0, 1),
        (
            f"bytes={OBJECT_CHUNK_BYTES - 3}-{2 * OBJECT_CHUNK_BYTES + 5}",
            OBJECT_CHUNK_BYTES - 3,
            2 * OBJECT_CHUNK_BYTES + 6,
        ),
        (f"bytes={2 * OBJECT_CHUNK_BYTES}-", 2 * OBJECT_CHUNK_BYTES, None),
        ("bytes=-1000", -1000, None),
        ("bytes=10-99999999999", 10, None),
    ],
)
def test_a_ranged_get_answers_the_range_and_says_which(
    session: boto3.Session, stack: LocalStack, body: bytes, spec: str, start: int, stop: int | None
) -> None:
    s3, bucket = session.client("s3"), stack.outputs["DataBucketName"]
    s3.put_object(Bucket=bucket, Key="big.bin", Body=body)
    expected = body[start:stop]
    # WHEN a range of it is read
    response = s3.get_object(Bucket=bucket, Key="big.bin", Range=spec)
    # THEN exactly that range arrives, as a 206 that names it
    assert response["Body"].read() == expected
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 206
    first = start % len(body)
    assert response["ContentRange"] == f"bytes {first}-{first + len(expected) - 1}/{len(body)}"


def test_a_range_past_the_end_is_refused(session: boto3.Session, stack: LocalStack, body: bytes) -> None:
    s3, bucket = session.client("s3"), stack.outputs["DataBucketName"]
    s3.put_object(Bucket=bucket, Key="big.bin", Body=body)
    with pytest.raises(ClientError, match="InvalidRange"):
        s3.get_object(Bucket=bucket, Key="big.bin", Range=f"bytes={len(body)}-")


def test_a_multipart_upload_becomes_the_file_it_was_made_of(
    session: boto3.Session, stack: LocalStack, tmp_path: Path
) -> None:
    s3, bucket = session.client("s3"), stack.outputs["DataBucketName"]
    source = tmp_path / "upload.bin"
    source.write_bytes(os.urandom(17 * MB + 999))
    # WHEN it is uploaded in 5 MiB parts (CRC32 per part, as boto3 sends by default)
    config = TransferConfig(multipart_threshold=5 * MB, multipart_chunksize=5 * MB)
    s3.upload_file(str(source), bucket, "up.bin", Config=config)
    # THEN the object is the file, with S3's multipart ETag and a composite checksum
    response = s3.get_object(Bucket=bucket, Key="up.bin", ChecksumMode="ENABLED")
    assert response["Body"].read() == source.read_bytes()
    assert response["ETag"].endswith('-4"')
    assert response["ChecksumCRC32"].endswith("-4")


def test_a_multipart_upload_with_a_full_object_checksum_has_that_checksum(
    session: boto3.Session, stack: LocalStack
) -> None:
    s3, bucket = session.client("s3"), stack.outputs["DataBucketName"]
    parts = [os.urandom(5 * MB), os.urandom(5 * MB), b"tail"]
    upload = s3.create_multipart_upload(
        Bucket=bucket, Key="full.bin", ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT"
    )
    done = [
        {
            "PartNumber": n,
            "ETag": s3.upload_part(
                Bucket=bucket, Key="full.bin", UploadId=upload["UploadId"], PartNumber=n, Body=part
            )["ETag"],
        }
        for n, part in enumerate(parts, start=1)
    ]
    s3.complete_multipart_upload(
        Bucket=bucket, Key="full.bin", UploadId=upload["UploadId"], MultipartUpload={"Parts": done}
    )
    response = s3.get_object(Bucket=bucket, Key="full.bin", ChecksumMode="ENABLED")
    whole = b"".join(parts)
    assert response["Body"].read() == whole
    assert response["ChecksumCRC32"] == base64.b64encode(binascii.crc32(whole).to_bytes(4, "big")).decode()


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"])
def test_a_checksum_fed_in_chunks_is_the_checksum_moto_computes_of_the_whole(algorithm: str) -> None:
    from moto.s3.utils import compute_checksum

    data = os.urandom(3 * 1000 + 7)
    update, digest = running_checksum(algorithm)
    for start in range(0, len(data), 1000):
        update(data[start : start + 1000])
    assert base64.b64encode(digest()) == compute_checksum(data, algorithm)


def _checksum_algorithm_named_without_its_value(request: Any, **_: Any) -> None:
    # What a client that leaves the checksum to S3 sends: the algorithm, no value.
    request.headers["x-amz-sdk-checksum-algorithm"] = "SHA256"


def test_a_put_body_larger_than_the_spool_is_the_object_with_its_etag_and_checksum(
    session: boto3.Session, stack: LocalStack
) -> None:
    bucket = stack.outputs["DataBucketName"]
    body = os.urandom(6 * MB + 4321)  # past moto's 5 MiB spool: streamed to disk
    s3 = session.client("s3", config=Config(request_checksum_calculation="when_required"))
    s3.meta.events.register("before-sign.s3.PutObject", _checksum_algorithm_named_without_its_value)
    # WHEN it is put whole, the checksum left to S3, and once more with boto3's CRC32 header
    put = s3.put_object(Bucket=bucket, Key="computed.bin", Body=body)
    s3.meta.events.unregister("before-sign.s3.PutObject", _checksum_algorithm_named_without_its_value)
    s3.put_object(Bucket=bucket, Key="sent.bin", Body=body, ChecksumAlgorithm="CRC32")
    # THEN each object is the body, with its MD5 as ETag and the checksum named
    sha256 = base64.b64encode(hashlib.sha256(body).digest()).decode()
    assert put["ChecksumSHA256"] == sha256
    computed = s3.get_object(Bucket=bucket, Key="computed.bin")
    assert computed["Body"].read() == body
    assert computed["ETag"] == put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    assert computed["ContentLength"] == len(body)
    sent = s3.get_object(Bucket=bucket, Key="sent.bin", ChecksumMode="ENABLED")
    assert sent["Body"].read() == body
    assert sent["ChecksumCRC32"] == base64.b64encode(binascii.crc32(body).to_bytes(4, "big")).decode()


def test_a_refused_put_leaves_the_object_as_it_was(session: boto3.Session, stack: LocalStack) -> None:
    s3, bucket = session.client("s3"), stack.outputs["DataBucketName"]
    first = os.urandom(6 * MB)
    s3.put_object(Bucket=bucket, Key="kept.bin", Body=first)
    # WHEN another body is put only if the key has none, after the body has been received
    with pytest.raises(ClientError, match="PreconditionFailed"):
        s3.put_object(Bucket=bucket, Key="kept.bin", Body=os.urandom(6 * MB), IfNoneMatch="*")
    # THEN the object is still the first body
    assert s3.get_object(Bucket=bucket, Key="kept.bin")["Body"].read() == first
