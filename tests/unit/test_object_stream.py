"""The object stream's resume offsets: where a broken or idle GET goes on from, and when it gives up."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import IncompleteReadError, ReadTimeoutError, ResponseStreamingError

from fanout.errors import RetryableError
from splitter.object_stream import IDLE_REOPEN_S, RESUME_ATTEMPTS, ObjectStream

DATA = bytes(range(256)) * 40  # 10,240 bytes


class Body:
    """A GET's body that hands out `data` and then breaks (or ends) after `breaks_after` bytes."""

    def __init__(self, data: bytes, breaks_after: int | None, error: Exception) -> None:
        self._data, self._breaks_after, self._error = data, breaks_after, error
        self._read = 0
        self.closed = False

    def read(self, amount: int) -> bytes:
        if self._breaks_after is not None and self._read >= self._breaks_after:
            raise self._error
        end = len(self._data) if self._breaks_after is None else self._breaks_after
        chunk = self._data[self._read : min(end, self._read + amount)]
        self._read += len(chunk)
        return chunk

    def close(self) -> None:
        self.closed = True


class FakeS3:
    """Each GET is answered by the next plan: bytes to hand out before breaking (None: all)."""

    def __init__(self, plans: list[int | None], error: Exception | None = None) -> None:
        self.plans = plans
        self.error = error or IncompleteReadError(actual_bytes=1, expected_bytes=2)
        self.gets: list[dict[str, Any]] = []
        self.bodies: list[Body] = []

    def get_object(self, **args: Any) -> dict[str, Any]:
        self.gets.append(args)
        start = int(args["Range"][len("bytes=") : -1]) if "Range" in args else 0
        body = Body(DATA[start:], self.plans.pop(0) if self.plans else None, self.error)
        self.bodies.append(body)
        return {"Body": body}


def stream(s3: FakeS3, start: int = 0, **kwargs: Any) -> ObjectStream:
    return ObjectStream(s3, "b", "k", "v1", len(DATA), start, 1000, sleep=lambda s: None, **kwargs)  # type: ignore[arg-type]


def test_a_broken_get_goes_on_from_the_first_byte_not_handed_on() -> None:
    # GIVEN GETs that break after 2,500 and then 3,000 bytes
    s3 = FakeS3([2_500, 3_000])
    # WHEN the whole object is read
    data = b"".join(stream(s3))
    # THEN every byte came once, in order, and each resume asked for the same version from there
    assert data == DATA
    assert [g.get("Range") for g in s3.gets] == [None, "bytes=2500-", "bytes=5500-"]
    assert {g["VersionId"] for g in s3.gets} == {"v1"}
    assert all(body.closed for body in s3.bodies)


@pytest.mark.parametrize(
    "error",
    [
        IncompleteReadError(actual_bytes=1, expected_bytes=2),
        ReadTimeoutError(endpoint_url="http://s3"),
        ResponseStreamingError(error="connection reset"),
    ],
)
def test_every_kind_of_break_resumes(error: Exception) -> None:
    s3 = FakeS3([4_000], error)
    assert b"".join(stream(s3)) == DATA
    assert [g.get("Range") for g in s3.gets] == [None, "bytes=4000-"]


def test_a_resumed_split_starts_at_its_checkpoint_and_resumes_past_it() -> None:
    s3 = FakeS3([1_000])
    assert b"".join(stream(s3, start=6_000)) == DATA[6_000:]
    assert [g.get("Range") for g in s3.gets] == ["bytes=6000-", "bytes=7000-"]


def test_a_stream_that_keeps_breaking_without_progress_gives_up_as_retryable() -> None:
    # GIVEN a GET that breaks at byte 2,000 and then breaks at once on every resume
    s3 = FakeS3([2_000] + [0] * 10)
    # WHEN it is read
    read = stream(s3)
    with pytest.raises(RetryableError, match="broke 6 times at byte 2000"):
        b"".join(read)
    # THEN it tried a bounded number of times, all from where it stood
    assert len(s3.gets) == 1 + RESUME_ATTEMPTS
    assert read.position == 2_000


def test_breaks_with_progress_between_them_do_not_add_up_to_giving_up() -> None:
    s3 = FakeS3([1_000] * (RESUME_ATTEMPTS + 3))
    assert b"".join(stream(s3)) == DATA


def test_a_stream_left_idle_is_reopened_where_it_stood() -> None:
    # GIVEN a reader that pauses longer than a connection is trusted to stay up
    now = [0.0]
    s3 = FakeS3([])
    read = iter(stream(s3, clock=lambda: now[0]))
    first = next(read)
    now[0] += IDLE_REOPEN_S + 1
    # WHEN it reads on
    rest = b"".join(read)
    # THEN the held GET was closed and a ranged one took over at the next byte
    assert first + rest == DATA
    assert [g.get("Range") for g in s3.gets] == [None, "bytes=1000-"]
    assert s3.bodies[0].closed


def test_an_object_read_to_its_end_asks_for_no_empty_range() -> None:
    s3 = FakeS3([])
    assert b"".join(stream(s3, start=len(DATA))) == b""
    assert s3.gets == []
