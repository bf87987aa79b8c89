import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fanout.contract import Row, WorkMessage
from worker.flusher import LedgerFlusher
from worker.ledger import Outcome
from worker.poster import RowResult


class RecordingLedger:
    def __init__(self) -> None:
        self.calls: list[list[Outcome]] = []

    def record(self, outcomes: list[Outcome], known: Any = None) -> dict[str, Any]:
        self.calls.append(outcomes)
        return {}


def test_posted_rows_of_all_messages_are_recorded_together_once_per_interval() -> None:
    now = [0.0]
    ledger = RecordingLedger()
    flusher = LedgerFlusher(ledger, interval_s=1.0, clock=lambda: now[0])  # type: ignore[arg-type]
    a = WorkMessage("j", 1, ("x",), (Row(1, ("1",)), Row(2, ("2",))))
    b = WorkMessage("j", 2, ("x",), (Row(3, ("3",)),))
    flusher.add(a, RowResult(1, posted=True))
    flusher.add(b, RowResult(3, posted=True))
    flusher.add(a, RowResult(2, posted=False))  # not posted: nothing to record
    assert ledger.calls == []
    now[0] = 1.0
    flusher.add(a, RowResult(2, posted=True))
    (call,) = ledger.calls
    assert sorted((o.message_key, sorted(o.posted)) for o in call) == [("j#1", [1, 2]), ("j#2", [3])]


def test_a_flush_does_not_start_while_another_is_recording() -> None:
    now = [0.0]
    flusher: LedgerFlusher

    class SlowLedger(RecordingLedger):
        def record(self, outcomes: list[Outcome], known: Any = None) -> dict[str, Any]:
            # While this one records, time passes and another row finishes
            now[0] += 5.0
            if len(self.calls) == 0:
                self.calls.append(outcomes)
                flusher.add(m, RowResult(2, posted=True))
                return {}
            self.calls.append(outcomes)
            return {}

    ledger = SlowLedger()
    m = WorkMessage("j", 1, ("x",), (Row(1, ("1",)), Row(2, ("2",))))
    flusher = LedgerFlusher(ledger, interval_s=1.0, clock=lambda: now[0])  # type: ignore[arg-type]
    now[0] = 1.0
    flusher.add(m, RowResult(1, posted=True))
    assert len(ledger.calls) == 1  # row 2 waits for the next flush
    now[0] += 1.0
    flusher.add(m, RowResult(3, posted=True))
    assert sorted(ledger.calls[1][0].posted) == [2, 3]


def test_with_a_recorder_the_posting_thread_goes_on_and_wait_returns_once_written() -> None:
    now = [0.0]
    written = threading.Event()
    release = threading.Event()

    class BlockingLedger(RecordingLedger):
        def record(self, outcomes: list[Outcome], known: Any = None) -> dict[str, Any]:
            release.wait(5)
            self.calls.append(outcomes)
            written.set()
            return {}

    ledger = BlockingLedger()
    m = WorkMessage("j", 1, ("x",), (Row(1, ("1",)),))
    with ThreadPoolExecutor(max_workers=1) as recorder:
        flusher = LedgerFlusher(ledger, interval_s=1.0, clock=lambda: now[0], recorder=recorder)  # type: ignore[arg-type]
        now[0] = 1.0
        # WHEN a row finishes with a flush due and the ledger is slow to answer
        flusher.add(m, RowResult(1, posted=True))
        # THEN the posting thread is back before the flush is written
        assert not written.is_set()
        release.set()
        # AND wait() returns only once it is
        flusher.wait()
        assert written.is_set()
        assert [sorted(o.posted) for o in ledger.calls[0]] == [[1]]
