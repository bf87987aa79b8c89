"""One S3 object version read as one stream of bytes, resumed with a ranged GET where it breaks.

The split holds one GET open for the whole object while back-pressure or a slow send keeps it
from reading, and a connection held like that breaks: the emulator ended one 40 MB into a
60 MB file (`IncompleteReadError`, issue 16), and S3 drops connections that sit idle. Where
the stream breaks, or has sat idle too long to trust, a new GET of the same version starts at
the first byte not yet handed on (`Range: bytes=N-`), so the reader sees one unbroken stream
and the split sends no row twice. Failures in a row without a byte read between them are
bounded; past the bound the split fails with a RetryableError, and the invocation's retry goes
on from the job's checkpoint.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ConnectionError as BotoConnectionError
from botocore.exceptions import HTTPClientError, IncompleteReadError

from fanout.backoff import backoff_delay
from fanout.errors import RetryableError

if TYPE_CHECKING:
    from botocore.response import StreamingBody
    from mypy_boto3_s3 import S3Client

log = logging.getLogger("fanout.splitter")

# What a broken GET raises: the body ended early (IncompleteReadError), the connection was
# reset or closed (ResponseStreamingError, ConnectionClosedError: HTTPClientError), a read or
# a connect timed out (ReadTimeoutError, ConnectTimeoutError), nothing answered
# (EndpointConnectionError: ConnectionError). Errors S3 answers with (ClientError: no such
# version, access denied) are not breaks and are raised as they are.
BROKEN_STREAM_ERRORS = (IncompleteReadError, HTTPClientError, BotoConnectionError)
# Resumes tried after a break before the split gives up; a resume that reads a byte starts the
# count again, so a long file on a flaky connection still gets through.
RESUME_ATTEMPTS = 5
# Backoff between those resumes: full jitter up to 0.5, 1, 2, 4, 4 s (11.5 s at most in all).
RESUME_BASE_S = 0.5
RESUME_CAP_S = 4.0
# A GET not read from for this long is reopened rather than read: a connection S3 (or a proxy)
# dropped while it idled may not say so until botocore's read timeout (60 s by default), and a
# ranged GET costs one request.
IDLE_REOPEN_S = 20.0


class ObjectStream:
    """The bytes of one object version of `size` bytes from `start`, in chunks of at most
    `chunk_bytes`.

    `position` is the byte after the last one handed on: where a resume starts.
    """

    def __init__(
        self,
        s3: S3Client,
        bucket: str,
        key: str,
        version_id: str | None,
        size: int,
        start: int = 0,
        chunk_bytes: int = 1 << 20,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._s3 = s3
        self._args: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if version_id:
            self._args["VersionId"] = version_id
        self.position = start
        self._size = size
        self._chunk_bytes = chunk_bytes
        self._clock = clock
        self._sleep = sleep
        self._body: StreamingBody | None = None
        self._last_read = clock()
        self.resumes = 0

    def __iter__(self) -> Iterator[bytes]:
        try:
            # S3 answers a range that starts at the end with 416, not with no bytes.
            while self.position < self._size and (chunk := self._read()):
                self.position += len(chunk)
                yield chunk
        finally:
            self._close()

    def _read(self) -> bytes:
        failures = 0
        while True:
            try:
                if self._body is not None and self._clock() - self._last_read >= IDLE_REOPEN_S:
                    log.info("reopening the object stream at byte %d after it sat idle", self.position)
                    self._close()
                if self._body is None:
                    self._body = self._open()
                chunk: bytes = self._body.read(self._chunk_bytes)
                self._last_read = self._clock()
                return chunk
            except BROKEN_STREAM_ERRORS as exc:
                self._close()
                failures += 1
                if failures > RESUME_ATTEMPTS:
                    raise RetryableError(
                        f"the object stream broke {failures} times at byte {self.position}: {exc}"
                    ) from exc
                log.warning("the object stream broke at byte %d (%s); resuming there", self.position, exc)
                self.resumes += 1
                self._sleep(backoff_delay(failures, RESUME_BASE_S, RESUME_CAP_S))

    def _open(self) -> StreamingBody:
        args = dict(self._args)
        if self.position:
            args["Range"] = f"bytes={self.position}-"
        body: StreamingBody = self._s3.get_object(**args)["Body"]
        return body

    def _close(self) -> None:
        if self._body is not None:
            body, self._body = self._body, None
            body.close()
