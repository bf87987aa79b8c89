import logging
import threading

import pytest

from fanout.contract import RowFailure
from worker.delivery import Settlement
from worker.poster import RowResult
from worker.posting_threads import PostingThreads


def test_every_action_runs_on_one_of_the_named_threads() -> None:
    # GIVEN three posting threads
    threads = PostingThreads(3, "post")
    done = threading.Barrier(4)
    seen: list[tuple[int, str]] = []
    lock = threading.Lock()

    def act(n: int) -> None:
        with lock:
            seen.append((n, threading.current_thread().name))

    # WHEN 30 actions are submitted
    for n in range(30):
        threads.submit(act, n)
    for _ in range(3):
        threads.submit(lambda _: done.wait(5), None)  # each thread reaches the barrier once
    done.wait(5)

    # THEN each ran once, on the pool's threads
    assert sorted(n for n, _ in seen) == list(range(30))
    assert {name for _, name in seen} <= {"post_0", "post_1", "post_2"}


def test_an_action_that_raises_is_logged_and_the_thread_serves_the_next(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # GIVEN one posting thread whose first action raises
    threads = PostingThreads(1, "post")
    ran = threading.Event()

    def fail(_: None) -> None:
        raise ValueError("a bug")

    # WHEN another action follows
    with caplog.at_level(logging.ERROR, logger="fanout.worker"):
        threads.submit(fail, None)
        threads.submit(lambda _: ran.set(), None)
        assert ran.wait(5)

    # THEN the failure was logged with its exception, and the next action ran
    assert [r.exc_info[0] for r in caplog.records if r.exc_info] == [ValueError]


def test_a_settlement_is_read_once_settled_and_refuses_to_be_read_before() -> None:
    failure = RowFailure(status=None, error="x", attempts=0, at="now")
    result = RowResult(7, posted=False, permanent=True, failure=failure)
    assert Settlement(result).result() is result
    with pytest.raises(RuntimeError, match="not settled"):
        Settlement().result()
