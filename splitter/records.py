"""CSV records from a stream of bytes: rows with their numbers, or rejections with a reason.

The bytes are split into physical lines first and each line is decoded on its own, so a bad
byte sequence rejects only the record it belongs to, and memory stays one line (plus one
record) whatever the size of the file. Every supported encoding keeps b"\\n" out of its
multi-byte sequences (UTF-8, and Shift_JIS/cp932 whose trail bytes are 0x40-0xFC), so
splitting on it is safe. `offset` is the byte position after the last record read: a split
can stop there and a later one go on from it (a ranged GET) with the same row numbers.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from fanout.contract import Row
from fanout.errors import InputError
from fanout.formats import DELIMITERS, CsvFormat

READ_CHUNK_BYTES = 1 << 20
UTF8_BOM = b"\xef\xbb\xbf"
# A record may hold up to this many characters in one field (csv's default is 128 KiB); a
# larger field cannot fit in a message anyway and is rejected by the batcher with its reason.
FIELD_SIZE_LIMIT = 1 << 24
EXCERPT_CHARS = 200
SNIFFED_DELIMITERS = tuple(c for c in DELIMITERS.values() if c)


@dataclass(frozen=True)
class Rejected:
    """A record that could not become a row."""

    number: int
    reason: str
    excerpt: str
    column: str = ""  # the column whose cell could not become what the request spec asks


@dataclass(frozen=True)
class Resume:
    """Where an earlier split stopped: the byte offset after its last record, and what it knew."""

    offset: int
    next_row: int
    columns: tuple[str, ...]
    delimiter: str


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


def sniff_delimiter(header_line: str, quote: str) -> str:
    """The candidate that splits the header into the most fields outside quotes; comma on a tie."""
    counts = dict.fromkeys(SNIFFED_DELIMITERS, 0)
    quoted = False
    for char in header_line:
        if char == quote:
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(counts.values())
    return "," if best == 0 or counts[","] == best else max(counts, key=lambda c: counts[c])


class CsvRecords:
    """Reads the header (or resumes after it), then yields each data record as a Row or a Rejected."""

    def __init__(
        self, chunks: Iterable[bytes], fmt: CsvFormat | None = None, resume: Resume | None = None
    ) -> None:
        self.format = fmt or CsvFormat()
        self._encoding = "utf-8" if self.format.encoding == "utf-8-sig" else self.format.encoding
        self._undecodable: set[int] = set()
        self._line_no = 0
        self._consumed = resume.offset if resume else 0
        self._lines = physical_lines(chunks)
        self._pending: list[str] = []  # a first line read ahead to sniff the delimiter
        csv.field_size_limit(FIELD_SIZE_LIMIT)
        if resume:
            self.delimiter, self.columns, self._next_row = resume.delimiter, resume.columns, resume.next_row
            self._reader = self._make_reader()
            self._first: list[str] | None = None
        else:
            self.delimiter = self.format.delimiter_char or sniff_delimiter(
                self._peek(), self.format.quote_char
            )
            self._reader = self._make_reader()
            self.columns, self._first = self._read_header()
            self._next_row = 1
        self.offset = self._consumed

    def _make_reader(self) -> Iterator[list[str]]:
        return csv.reader(
            self._decoded(), delimiter=self.delimiter, quotechar=self.format.quote_char, strict=True
        )

    def _peek(self) -> str:
        line = next(self._decoded_lines(), "")
        self._pending.append(line)
        return line

    def _decoded(self) -> Iterator[str]:
        while self._pending:
            yield self._pending.pop(0)
        yield from self._decoded_lines()

    def _decoded_lines(self) -> Iterator[str]:
        for raw in self._lines:
            self._line_no += 1
            self._consumed += len(raw)
            if self._line_no == 1 and self._consumed == len(raw) and raw.startswith(UTF8_BOM):
                raw = raw[len(UTF8_BOM) :]
            try:
                yield raw.decode(self._encoding)
            except UnicodeDecodeError:
                self._undecodable.add(self._line_no)
                yield raw.decode(self._encoding, errors="replace")

    def _read_header(self) -> tuple[tuple[str, ...], list[str] | None]:
        try:
            header = next(r for r in self._reader if r)
        except StopIteration:
            raise InputError("the file is empty: no header row") from None
        except csv.Error as exc:
            raise InputError(f"the header row is not valid CSV: {exc}") from None
        if self._undecodable:
            raise InputError(f"the header row is not valid {self.format.encoding}")
        if "\0" in "".join(header):
            raise InputError("the header row holds NUL bytes: this does not look like a CSV file")
        if self.format.header == "none":
            return tuple(f"column_{n}" for n in range(1, len(header) + 1)), header
        duplicates = sorted({name for name in header if header.count(name) > 1})
        if duplicates:
            raise InputError(f"the header names a column twice: {', '.join(duplicates)}")
        return tuple(header), None

    def __iter__(self) -> Iterator[Row | Rejected]:
        if self._first is not None:
            first, self._first = self._first, None
            yield self._classify(self._take_number(), first, 1)
            self.offset = self._consumed
        while True:
            first_line = self._line_no + 1
            try:
                fields = next(self._reader)
            except StopIteration:
                self.offset = self._consumed
                return
            except csv.Error as exc:
                self.offset = self._consumed
                yield Rejected(self._take_number(), f"not valid CSV: {exc}", "")
                continue
            self.offset = self._consumed
            if fields:  # a blank line is not a record
                yield self._classify(self._take_number(), fields, first_line)

    def _take_number(self) -> int:
        number = self._next_row
        self._next_row += 1
        return number

    def _classify(self, number: int, fields: list[str], first_line: int) -> Row | Rejected:
        bad = [n for n in range(first_line, self._line_no + 1) if n in self._undecodable]
        excerpt = self.delimiter.join(fields)[:EXCERPT_CHARS]
        if bad:
            self._undecodable.difference_update(bad)
            return Rejected(number, f"bytes that are not valid {self.format.encoding}", excerpt)
        if len(fields) != len(self.columns):
            reason = f"expected {len(self.columns)} fields, found {len(fields)}"
            return Rejected(number, reason, excerpt)
        return Row(number, tuple(fields))
