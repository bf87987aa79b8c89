"""Checks made before anything is attempted, so bad input ends with one line and exit 2."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

from fanout.errors import InputError
from fanout.formats import CsvFormat
from fanout.rendering import Origin
from splitter.compression import Gunzip, is_gzip
from splitter.records import READ_CHUNK_BYTES, CsvRecords

CONNECT_TIMEOUT_S = 3.0


def file_chunks(path: Path) -> Iterator[bytes]:
    """The file's CSV bytes: gunzipped when its name says gzip, as the splitter reads it."""
    if is_gzip(path.name):
        yield from Gunzip(_raw_chunks(path), READ_CHUNK_BYTES)
    else:
        yield from _raw_chunks(path)


def _raw_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(READ_CHUNK_BYTES):
            yield chunk


def check_csv(path: Path, fmt: CsvFormat | None = None) -> tuple[str, ...]:
    """The file's header, once it is known to be a readable CSV with at least one data record."""
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if not path.is_file():
        raise InputError(f"{path}: not a regular file")
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except OSError as exc:
        raise InputError(f"{path}: cannot read it: {exc.strerror}") from None
    if path.stat().st_size == 0:
        raise InputError(f"{path}: the file is empty")
    try:
        records = CsvRecords(file_chunks(path), fmt)
        first = next(iter(records), None)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None
    if first is None:
        raise InputError(f"{path}: the file has a header but no data rows")
    return records.columns


def check_api_url(url: str) -> None:
    """A well-formed http(s) URL with something listening at its host and port."""
    origin, _, _ = Origin.of(url, "--api-url")
    try:
        with socket.create_connection((origin.host, origin.port), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        where = f"{origin.host}:{origin.port}"
        raise InputError(f"--api-url {url}: nothing answers at {where} ({reason})") from None
