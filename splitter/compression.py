"""gzip-compressed CSV, decompressed as it streams, in bounded memory.

A `.gz` key or `Content-Encoding: gzip` says an object is compressed. zlib decompresses it
piece by piece (wbits 16 + MAX_WBITS: the gzip container), every member of a multi-member
file in turn, and no piece it hands on is larger than the chunk size, whatever the ratio.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator

from fanout.errors import InputError

GZIP_WBITS = 16 + zlib.MAX_WBITS
GZIP_MAGIC = b"\x1f\x8b"
GZIP_SUFFIXES = (".gz", ".gzip")


def is_gzip(key: str, content_encoding: str | None = None) -> bool:
    encodings = {e.strip().lower() for e in (content_encoding or "").split(",")}
    return key.lower().endswith(GZIP_SUFFIXES) or bool(encodings & {"gzip", "x-gzip"})


class Gunzip:
    """The decompressed bytes of gzip `chunks`, in pieces of at most `chunk_bytes`.

    `produced` counts the bytes handed on so far.
    """

    def __init__(self, chunks: Iterable[bytes], chunk_bytes: int = 1 << 20) -> None:
        self._chunks = chunks
        self._chunk_bytes = chunk_bytes
        self.produced = 0

    def __iter__(self) -> Iterator[bytes]:
        member = zlib.decompressobj(GZIP_WBITS)
        started = False
        try:
            for data in self._chunks:
                started = started or bool(data)
                while data:
                    if member.eof:
                        if not data.strip(b"\0"):  # zero padding after the last member (tar, tape)
                            break
                        member = zlib.decompressobj(GZIP_WBITS)
                    out = member.decompress(data, self._chunk_bytes)
                    data = member.unused_data if member.eof else member.unconsumed_tail
                    yield from self._handed_on(out)
                    # Output held back by the size limit comes out with no further input.
                    while not data and not member.eof and len(out) == self._chunk_bytes:
                        out = member.decompress(b"", self._chunk_bytes)
                        yield from self._handed_on(out)
        except zlib.error as exc:
            raise InputError(f"the file is not valid gzip data ({exc})") from None
        if started and not member.eof:
            raise InputError("the gzip data ends before its end: the file is cut short")

    def _handed_on(self, out: bytes) -> Iterator[bytes]:
        if out:
            self.produced += len(out)
            yield out


def skip_bytes(chunks: Iterable[bytes], count: int) -> Iterator[bytes]:
    """`chunks` without their first `count` bytes."""
    for chunk in chunks:
        if count >= len(chunk):
            count -= len(chunk)
            continue
        yield chunk[count:] if count else chunk
        count = 0
