"""S3 objects written and read as streams: a multipart upload of one part's memory (and its
completion, safe to send again), a text reader."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from fanout.errors import FanoutError
from fanout.limits import S3_DELETE_MAX_KEYS, S3_MIN_PART_BYTES

if TYPE_CHECKING:
    from botocore.response import StreamingBody
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

# One buffer per object being read: the combiner reads up to 128 at once (fanout/results_combine.py).
READ_BUFFER_BYTES = 64 * 1024


class MultipartWriter:
    """Bytes written in order to one object; memory stays one part. Use as a context manager:
    the object exists once the block ends cleanly, and the upload is aborted otherwise."""

    def __init__(self, s3: S3Client, bucket: str, key: str, content_type: str = "text/csv") -> None:
        self._s3 = s3
        self._bucket = bucket
        self._key = key
        self._content_type = content_type
        self._upload = ""
        self._parts: list[CompletedPartTypeDef] = []
        # A file object, not bytes: it goes to the upload as it is (no 5 MiB copy per part).
        self._buffer = io.BytesIO()

    def __enter__(self) -> MultipartWriter:
        self._upload = self._s3.create_multipart_upload(
            Bucket=self._bucket, Key=self._key, ContentType=self._content_type
        )["UploadId"]
        return self

    def write(self, data: bytes) -> None:
        self._buffer.write(data)
        if self._buffer.tell() >= S3_MIN_PART_BYTES:
            self._flush()

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        if kind is not None:
            self._s3.abort_multipart_upload(Bucket=self._bucket, Key=self._key, UploadId=self._upload)
            return
        try:
            if self._buffer.tell() or not self._parts:
                self._flush()
            complete_upload(self._s3, self._bucket, self._key, self._upload, self._parts)
        except UploadGone:
            raise  # nothing left to abort
        except BaseException:
            self._s3.abort_multipart_upload(Bucket=self._bucket, Key=self._key, UploadId=self._upload)
            raise

    def _flush(self) -> None:
        number = len(self._parts) + 1
        self._buffer.seek(0)
        part = self._s3.upload_part(
            Bucket=self._bucket,
            Key=self._key,
            UploadId=self._upload,
            PartNumber=number,
            Body=self._buffer,
        )
        self._parts.append({"PartNumber": number, "ETag": part["ETag"]})
        self._buffer = io.BytesIO()


class UploadGone(FanoutError):
    """A completion answered NoSuchUpload, and the object at the key is not the one its parts make."""


def complete_upload(
    s3: S3Client, bucket: str, key: str, upload_id: str, parts: list[CompletedPartTypeDef]
) -> tuple[str | None, str]:
    """Completes the upload; returns the object's version id and ETag."""
    try:
        done = s3.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "NoSuchUpload":
            raise
        # Sent again after the first completion completed the upload (its answer lost on the
        # way), a completion finds no upload; the object is then the one these parts make.
        made = completed_object(s3, bucket, key, parts)
        if made is None:
            raise UploadGone(
                f"s3://{bucket}/{key}: upload {upload_id} is gone (NoSuchUpload),"
                " and the object there is not the one its parts make"
            ) from exc
        return made
    return done.get("VersionId"), done["ETag"]


def completed_object(
    s3: S3Client, bucket: str, key: str, parts: list[CompletedPartTypeDef]
) -> tuple[str | None, str] | None:
    """The version id and ETag of the object at the key, if it is the one `parts` make."""
    expected = multipart_etag([part["ETag"] for part in parts])
    if expected is None:
        return None
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
            return None
        raise
    return (head.get("VersionId"), head["ETag"]) if head["ETag"] == expected else None


def multipart_etag(part_etags: list[str]) -> str | None:
    """The ETag S3 gives the object these parts make: the MD5 of their MD5s, and their count.

    None when a part's ETag is not its MD5 (parts encrypted with SSE-C or SSE-KMS).
    """
    try:
        md5s = b"".join(bytes.fromhex(etag.strip('"')) for etag in part_etags)
    except ValueError:
        return None
    if len(md5s) != 16 * len(part_etags):
        return None
    return f'"{hashlib.md5(md5s, usedforsecurity=False).hexdigest()}-{len(part_etags)}"'


class _Raw(io.RawIOBase):
    def __init__(self, body: StreamingBody) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._body.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._body.close()
        super().close()


def open_text(s3: S3Client, bucket: str, key: str) -> io.TextIOWrapper:
    """An object as UTF-8 text, read as it is consumed (for csv.reader: newline='')."""
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    return io.TextIOWrapper(io.BufferedReader(_Raw(body), READ_BUFFER_BYTES), encoding="utf-8", newline="")


def list_objects(s3: S3Client, bucket: str, prefix: str) -> Iterator[Any]:
    """The objects under `prefix`, a page (1,000) at a time: keep what you need of each."""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        yield from page.get("Contents", [])


def delete_objects(s3: S3Client, bucket: str, keys: list[str]) -> None:
    for start in range(0, len(keys), S3_DELETE_MAX_KEYS):
        chunk = keys[start : start + S3_DELETE_MAX_KEYS]
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True})
