"""How a CSV file is written: delimiter, quote character, encoding, header row.

The stack's parameters give the defaults; S3 object metadata (`x-amz-meta-fanout-*`, which
`fanout drop` and `fanout run` set from their flags) overrides them for one file.
"""

from __future__ import annotations

import codecs
from collections.abc import Mapping
from dataclasses import dataclass, replace

from fanout.errors import InputError

DELIMITERS = {"comma": ",", "semicolon": ";", "tab": "\t", "pipe": "|", "auto": ""}
QUOTES = {"double": '"', "single": "'"}
ENCODINGS = ("utf-8", "utf-8-sig", "cp932", "shift_jis", "latin-1")
HEADERS = ("first-row", "none")
# Metadata keys a file may carry to override the stack's format (S3 lower-cases them).
METADATA_PREFIX = "fanout-"


@dataclass(frozen=True)
class CsvFormat:
    delimiter: str = "auto"  # a name in DELIMITERS
    quote: str = "double"  # a name in QUOTES
    encoding: str = "utf-8"  # utf-8 reads files with or without a BOM
    header: str = "first-row"  # or "none": columns are named column_1, column_2, ...

    def __post_init__(self) -> None:
        for value, allowed, what in (
            (self.delimiter, tuple(DELIMITERS), "delimiter"),
            (self.quote, tuple(QUOTES), "quote"),
            (self.encoding, ENCODINGS, "encoding"),
            (self.header, HEADERS, "header"),
        ):
            if value not in allowed:
                raise InputError(f"{what} {value!r} is not one of {', '.join(allowed)}")
        codecs.lookup(self.encoding)

    @property
    def delimiter_char(self) -> str:
        """The delimiter, or "" to sniff it from the header row."""
        return DELIMITERS[self.delimiter]

    @property
    def quote_char(self) -> str:
        return QUOTES[self.quote]

    def describe(self, delimiter_char: str) -> str:
        name = next(n for n, c in DELIMITERS.items() if c == delimiter_char)
        sniffed = " (sniffed)" if self.delimiter == "auto" else ""
        return f"delimiter={name}{sniffed} quote={self.quote} encoding={self.encoding} header={self.header}"

    def overridden_by(self, metadata: Mapping[str, str]) -> CsvFormat:
        """This format with a file's `fanout-*` metadata applied."""
        changes = {
            field: metadata[METADATA_PREFIX + field]
            for field in ("delimiter", "quote", "encoding", "header")
            if METADATA_PREFIX + field in metadata
        }
        return replace(self, **changes) if changes else self

    def as_metadata(self) -> dict[str, str]:
        return {METADATA_PREFIX + f: getattr(self, f) for f in ("delimiter", "quote", "encoding", "header")}
