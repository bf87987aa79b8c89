"""CSV records from a stream of bytes: rows with their numbers, or rejections with a reason.

The bytes are split into physical lines first and each line is decoded on its own, so a bad
byte sequence rejects only the record it belongs to, and memory stays one line (plus one
record) whatever the size of the file.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from fanout.contract import Row
from fanout.errors import InputError

READ_CHUNK_BYTES = 1 << 20
UTF8_BOM = b"\xef\xbb\xbf"
# A record may hold up to this many characters in one field (csv's default is 128 KiB); a
# larger field cannot fit in a message anyway and is rejected by the batcher with its reason.
FIELD_SIZE_LIMIT = 1 << 24
EXCERPT_CHARS = 200


@dataclass(frozen=True)
class Rejected:
    """A record that could not become a row."""

    number: int
    reason: str
    excerpt: str


def physical_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Lines ending in b"\\n" (kept), the last one possibly without it."""
    pending = b""
    for chunk in chunks:
        if not chunk:
            continue
        pending += chunk
        start = 0
        while (end := pending.find(b"\n", start)) != -1:
            yield pending[start : end + 1]
            start = end + 1
        pending = pending[start:]
    if pending:
        yield pending


class CsvRecords:
    """Reads the header, then yields each data record as a Row or a Rejected."""

    def __init__(self, chunks: Iterable[bytes], encoding: str = "utf-8") -> None:
        self._encoding = encoding
        self._undecodable: set[int] = set()
        self._line_no = 0
        self._reader = csv.reader(self._decoded(physical_lines(chunks)), strict=True)
        csv.field_size_limit(FIELD_SIZE_LIMIT)
        self.columns = self._read_header()

    def _decoded(self, lines: Iterator[bytes]) -> Iterator[str]:
        for raw in lines:
            self._line_no += 1
            if self._line_no == 1 and raw.startswith(UTF8_BOM):
                raw = raw[len(UTF8_BOM) :]
            try:
                yield raw.decode(self._encoding)
            except UnicodeDecodeError:
                self._undecodable.add(self._line_no)
                yield raw.decode(self._encoding, errors="replace")

    def _read_header(self) -> tuple[str, ...]:
        try:
            header = next(r for r in self._reader if r)
        except StopIteration:
            raise InputError("the file is empty: no header row") from None
        except csv.Error as exc:
            raise InputError(f"the header row is not valid CSV: {exc}") from None
        if self._undecodable:
            raise InputError(f"the header row is not valid {self._encoding}")
        if "\0" in "".join(header):
            raise InputError("the header row holds NUL bytes: this does not look like a CSV file")
        duplicates = sorted({name for name in header if header.count(name) > 1})
        if duplicates:
            raise InputError(f"the header names a column twice: {', '.join(duplicates)}")
        return tuple(header)

    def __iter__(self) -> Iterator[Row | Rejected]:
        number = 0
        while True:
            first_line = self._line_no + 1
            try:
                fields = next(self._reader)
            except StopIteration:
                return
            except csv.Error as exc:
                number += 1
                yield Rejected(number, f"not valid CSV: {exc}", "")
                continue
            if not fields:
                continue  # a blank line is not a record
            number += 1
            yield self._classify(number, fields, first_line)

    def _classify(self, number: int, fields: list[str], first_line: int) -> Row | Rejected:
        bad = [n for n in range(first_line, self._line_no + 1) if n in self._undecodable]
        excerpt = ",".join(fields)[:EXCERPT_CHARS]
        if bad:
            self._undecodable.difference_update(bad)
            return Rejected(number, f"bytes that are not valid {self._encoding} (line {bad[0]})", excerpt)
        if len(fields) != len(self.columns):
            reason = f"expected {len(self.columns)} fields, found {len(fields)}"
            return Rejected(number, reason, excerpt)
        return Row(number, tuple(fields))
