"""The emulator holds a chunk of an object, not the object: PUT, multipart upload and GET of one
far larger than the bound leave its peak resident memory (VmHWM) within the bound."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

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


@pytest.fixture
def emulator_s3() -> Iterator[tuple[Emulator, S3Client]]:
    # An emulator of its own: the session's has a peak from whatever ran before.
    with Emulator() as emulator:
        s3: S3Client = boto3.client(
            "s3",
            endpoint_url=emulator.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
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
    upload(s3, big_file, BUCKET, "parts.bin", {})
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
