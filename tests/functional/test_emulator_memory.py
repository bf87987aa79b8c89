"""The emulator holds a chunk of an object, not the object: PUT, multipart upload and GET of one
far larger than the bound leave its peak resident memory (VmHWM) within the bound."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from infra.local.emulator import Emulator
from infra.ops.upload import upload

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MB = 1024 * 1024
OBJECT_BYTES = 160 * MB
# A few chunks of 1 MiB per request, allocator slack and the Python of a dozen requests; without
# streaming each step below added at least the object's size (a 100 MB PutObject: +177 MB).
GROWTH_BOUND_BYTES = 40 * MB
BUCKET = "memory-probe"


def peak_resident_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM for process {pid}")


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("memory") / "big.bin"
    with path.open("wb") as handle:
        for _ in range(OBJECT_BYTES // MB):
            handle.write(os.urandom(MB))
    yield path
    path.unlink()


def client(emulator: Emulator, service: str) -> Any:
    # Not infra.local.endpoint.use_endpoint: it points the whole process at this emulator.
    return boto3.client(
        service,
        endpoint_url=emulator.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def emulator_s3() -> Iterator[tuple[Emulator, S3Client]]:
    # An emulator of its own: the session's has a peak from whatever ran before.
    with Emulator() as emulator:
        s3: S3Client = client(emulator, "s3")
        s3.create_bucket(Bucket=BUCKET)
        yield emulator, s3


def test_a_put_object_of_a_big_body_does_not_hold_it(
    emulator_s3: tuple[Emulator, S3Client], big_file: Path
) -> None:
    emulator, s3 = emulator_s3
    before = peak_resident_bytes(emulator.pid)
    # WHEN a body far larger than the bound is put whole, in one request
    with big_file.open("rb") as body:
        s3.put_object(Bucket=BUCKET, Key="whole.bin", Body=body)
    # THEN the emulator's peak grew by less than the bound
    grown = peak_resident_bytes(emulator.pid) - before
    assert grown < GROWTH_BOUND_BYTES, f"{grown / MB:.0f} MiB for a {OBJECT_BYTES // MB} MiB body"


def test_a_multipart_upload_and_a_get_of_a_big_object_do_not_hold_it(
    emulator_s3: tuple[Emulator, S3Client], big_file: Path
) -> None:
    emulator, s3 = emulator_s3
    before = peak_resident_bytes(emulator.pid)
    # WHEN the file is uploaded in parts (as fanout drop and run upload it)
    upload(s3, big_file, BUCKET, "parts.bin", {}, completing=s3)
    uploaded = peak_resident_bytes(emulator.pid) - before
    # AND read back whole, then a range of it
    received = sum(
        len(chunk) for chunk in s3.get_object(Bucket=BUCKET, Key="parts.bin")["Body"].iter_chunks(MB)
    )
    ranged = s3.get_object(Bucket=BUCKET, Key="parts.bin", Range=f"bytes={MB}-")
    received += sum(len(chunk) for chunk in ranged["Body"].iter_chunks(MB))
    # THEN every byte came back, and neither the upload nor the reads grew the peak by the bound
    assert received == 2 * OBJECT_BYTES - MB
    grown = peak_resident_bytes(emulator.pid) - before
    assert uploaded < GROWTH_BOUND_BYTES, f"upload: {uploaded / MB:.0f} MiB for {OBJECT_BYTES // MB} MiB"
    assert grown < GROWTH_BOUND_BYTES, f"upload and GETs: {grown / MB:.0f} MiB for {OBJECT_BYTES // MB} MiB"


def test_messages_sent_and_deleted_are_not_kept(emulator_s3: tuple[Emulator, S3Client]) -> None:
    emulator, _ = emulator_s3
    sqs = client(emulator, "sqs")
    queue_url = sqs.create_queue(QueueName="memory-probe")["QueueUrl"]
    body = "x" * 250_000
    rounds, per_round = 8, 20  # 40 MB through the queue, 5 MB in it at a time
    before = peak_resident_bytes(emulator.pid)
    # WHEN far more bytes than the bound pass through the queue, a few at a time
    for _ in range(rounds):
        for _ in range(per_round):
            sqs.send_message(QueueUrl=queue_url, MessageBody=body)
        deleted = 0
        while deleted < per_round:
            for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get(
                "Messages", []
            ):
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
                deleted += 1
    # THEN the emulator's peak grew by what the queue held at once, not by all that was sent
    grown = peak_resident_bytes(emulator.pid) - before
    sent = rounds * per_round * len(body)
    assert grown < sent / 2, f"{grown / MB:.0f} MiB for {sent / MB:.0f} MiB sent and deleted"
