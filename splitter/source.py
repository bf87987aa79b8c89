"""The CSV bytes of an object from an offset, as stored or gunzipped, and where they stand in it.

Offsets in the job's checkpoint are offsets in the CSV bytes (after decompression). A plain
object resumes at its offset with a ranged GET. A gzip stream cannot be entered in the middle
(a deflate block depends on the 32 KiB before it), so a split resumed from a checkpoint reads
the object from its start again and skips the CSV bytes before the offset: decompressing is
fast (hundreds of MB/s) next to the rest of a split, and it needs nothing stored beyond the
offset. Within one invocation a broken stream still resumes with a ranged GET (the same
decompressor goes on with the stored bytes that follow). Checkpointing compressed offsets at
member boundaries was the alternative; a one-member file (what gzip writes) has only one.

`source_offset` maps a CSV offset to bytes of the stored object, for the progress estimate
and the message sizes' estimate of the rows left, both of which compare it with the object's
size: exact for a plain object, in proportion to the bytes decompressed so far for gzip.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from fanout.s3events import ObjectRef
from splitter.compression import Gunzip, is_gzip, skip_bytes
from splitter.object_stream import ObjectStream

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class ObjectBytes:
    def __init__(self, s3: S3Client, ref: ObjectRef, head: Any, offset: int, chunk_bytes: int) -> None:
        self.size = int(head["ContentLength"])
        self.compressed = is_gzip(ref.key, head.get("ContentEncoding"))
        self._offset = offset
        self._raw_start = 0 if self.compressed else offset
        self._stream = ObjectStream(
            s3, ref.bucket, ref.key, head.get("VersionId"), self.size, self._raw_start, chunk_bytes
        )
        self._gunzip = Gunzip(self._stream, chunk_bytes) if self.compressed else None

    def __iter__(self) -> Iterator[bytes]:
        if self._gunzip is None:
            return iter(self._stream)
        return skip_bytes(self._gunzip, self._offset)

    @property
    def stored_bytes_read(self) -> int:
        """Bytes of the stored object this split has read."""
        return self._stream.position - self._raw_start

    def source_offset(self, offset: int) -> int:
        if self._gunzip is None:
            return offset
        produced = self._gunzip.produced
        return (
            self._stream.position
            if produced <= 0
            else min(self.size, self._stream.position * offset // produced)
        )
