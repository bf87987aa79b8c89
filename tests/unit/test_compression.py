"""gzip decoding and the resume offsets of a compressed object."""

from __future__ import annotations

import gzip
from typing import Any

import pytest
from botocore.exceptions import IncompleteReadError

from fanout.errors import InputError
from fanout.s3events import ObjectRef
from splitter.compression import Gunzip, is_gzip, skip_bytes
from splitter.source import ObjectBytes

CSV = (
    "id,text\n" + "".join(f"{n},row {n} of a file that compresses well\n" for n in range(1, 20_001))
).encode()


def pieces(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def test_a_gzip_stream_decodes_whole_in_pieces_no_larger_than_the_chunk() -> None:
    # GIVEN a file that compresses about 10:1, arriving in chunks of 7 bytes and of 64 KiB
    for arrival in (7, 1 << 16):
        decoded = list(Gunzip(pieces(gzip.compress(CSV), arrival), chunk_bytes=4096))
        # THEN its bytes come out whole, and no piece is larger than the chunk
        assert b"".join(decoded) == CSV
        assert max(len(p) for p in decoded) <= 4096


def test_a_bomb_stays_in_bounded_pieces() -> None:
    bomb = gzip.compress(b"\0" * 20_000_000)  # 20 MB from about 20 KB
    gunzip = Gunzip([bomb], chunk_bytes=1 << 20)
    assert max(len(p) for p in gunzip) == 1 << 20
    assert gunzip.produced == 20_000_000


def test_every_member_of_a_multi_member_file_is_read_and_zero_padding_ignored() -> None:
    members = gzip.compress(CSV[:1000]) + gzip.compress(CSV[1000:]) + b"\0" * 512
    assert b"".join(Gunzip(pieces(members, 333), 1000)) == CSV


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"id,text\n1,plain\n", "not valid gzip data"),
        (gzip.compress(CSV)[:-5000], "cut short"),
        (gzip.compress(CSV) + b"garbage", "not valid gzip data"),
    ],
)
def test_what_is_not_whole_gzip_fails_the_file_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(InputError, match=reason):
        b"".join(Gunzip([data]))


def test_gzip_is_named_by_the_key_or_the_content_encoding() -> None:
    assert is_gzip("incoming/a.csv.gz") and is_gzip("incoming/A.CSV.GZ")
    assert is_gzip("incoming/a.csv", "gzip") and is_gzip("incoming/a.csv", "identity, gzip")
    assert not is_gzip("incoming/a.csv") and not is_gzip("incoming/a.csv", "identity")


def test_skip_bytes_drops_exactly_the_first_bytes_across_chunks() -> None:
    assert b"".join(skip_bytes(pieces(CSV, 1000), 2_345)) == CSV[2_345:]
    assert b"".join(skip_bytes(pieces(CSV, 1000), 0)) == CSV


class BreakingS3:
    """GETs of `stored`: the first one breaks after `breaks_after` bytes, the others do not."""

    def __init__(self, stored: bytes, breaks_after: int) -> None:
        self.stored, self.breaks_after = stored, breaks_after
        self.ranges: list[str | None] = []

    def get_object(self, **args: Any) -> dict[str, Any]:
        self.ranges.append(args.get("Range"))
        start = int(args["Range"][6:-1]) if "Range" in args else 0
        limit = self.breaks_after if len(self.ranges) == 1 else None
        return {"Body": _Body(self.stored[start:], limit)}


class _Body:
    def __init__(self, data: bytes, limit: int | None) -> None:
        self.data, self.limit, self.at = data, limit, 0

    def read(self, amount: int) -> bytes:
        end = len(self.data) if self.limit is None else self.limit
        if self.at >= end and end < len(self.data):
            raise IncompleteReadError(actual_bytes=self.at, expected_bytes=len(self.data))
        chunk = self.data[self.at : min(end, self.at + amount)]
        self.at += len(chunk)
        return chunk

    def close(self) -> None:
        pass


def object_bytes(s3: BreakingS3, key: str, offset: int, encoding: str | None = None) -> ObjectBytes:
    head = {"ContentLength": len(s3.stored), "VersionId": "v1", "ContentEncoding": encoding}
    return ObjectBytes(s3, ObjectRef("b", key, "v1", ""), head, offset, 4096)  # type: ignore[arg-type]


def test_a_compressed_object_resumed_from_a_checkpoint_reads_from_its_start_and_skips() -> None:
    # GIVEN a gzip object whose first GET breaks part way, and a checkpoint at CSV byte 300,001
    stored = gzip.compress(CSV)
    s3 = BreakingS3(stored, breaks_after=len(stored) // 3)
    source = object_bytes(s3, "incoming/a.csv.gz", 300_001)
    # WHEN it is read
    data = b"".join(source)
    # THEN it is the CSV from that offset; the resume within the stream was a ranged GET of
    # the stored bytes, the start from the checkpoint was not
    assert data == CSV[300_001:]
    assert s3.ranges == [None, f"bytes={len(stored) // 3}-"]
    assert source.stored_bytes_read == len(stored)
    # AND a CSV offset maps to stored bytes in proportion, the end to the end
    assert source.source_offset(len(CSV)) == len(stored)
    assert source.source_offset(len(CSV) // 2) == pytest.approx(len(stored) / 2, rel=0.01)


def test_a_content_encoded_object_is_gunzipped_and_a_plain_one_resumes_at_its_offset() -> None:
    encoded = object_bytes(BreakingS3(gzip.compress(b"x"), 10**9), "incoming/a.csv", 0, "gzip")
    assert b"".join(encoded) == b"x"
    s3 = BreakingS3(CSV, breaks_after=10**9)
    plain = object_bytes(s3, "incoming/a.csv", 5_000)
    assert b"".join(plain) == CSV[5_000:]
    assert s3.ranges == ["bytes=5000-"] and plain.source_offset(7_000) == 7_000
