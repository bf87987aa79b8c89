from typing import Any

from fanout.contract import Row, WorkMessage
from worker.checkpoint import Checkpoint
from worker.ledger import Outcome
from worker.poster import RowResult


class RecordingLedger:
    def __init__(self) -> None:
        self.calls: list[list[Outcome]] = []

    def record(self, outcomes: list[Outcome]) -> dict[str, Any]:
        self.calls.append(outcomes)
        return {}


def test_posted_rows_of_all_messages_are_recorded_together_once_per_interval() -> None:
    now = [0.0]
    ledger = RecordingLedger()
    checkpoint = Checkpoint(ledger, interval_s=1.0, clock=lambda: now[0])  # type: ignore[arg-type]
    a = WorkMessage("j", 1, ("x",), (Row(1, ("1",)), Row(2, ("2",))))
    b = WorkMessage("j", 2, ("x",), (Row(3, ("3",)),))
    checkpoint.add(a, RowResult(1, posted=True))
    checkpoint.add(b, RowResult(3, posted=True))
    checkpoint.add(a, RowResult(2, posted=False))  # not posted: nothing to record
    assert ledger.calls == []
    now[0] = 1.0
    checkpoint.add(a, RowResult(2, posted=True))
    (call,) = ledger.calls
    assert sorted((o.message_key, sorted(o.posted)) for o in call) == [("j#1", [1, 2]), ("j#2", [3])]
