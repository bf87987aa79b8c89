from worker.ledger import Change, Outcome, Settled


def test_change_counts_only_what_is_new() -> None:
    before = Settled(posted=frozenset({1, 2}), failed=frozenset({3}), version=4)
    change = Change.of(Outcome("m", "j", posted=frozenset({2, 3, 4}), failed=frozenset({1, 5})), before)
    assert change.posted == {3, 4}  # 2 was already posted
    assert change.recovered == {3}  # 3 had failed and is now posted
    assert change.failed == {5}  # 1 is posted: it cannot fail any more
    assert change


def test_nothing_new_is_no_change() -> None:
    before = Settled(posted=frozenset({1}), failed=frozenset({2}), version=1)
    assert not Change.of(Outcome("m", "j", posted=frozenset({1}), failed=frozenset({2})), before)


def test_cancelled_rows_count_once_and_come_back_when_posted() -> None:
    before = Settled(posted=frozenset({1}), failed=frozenset({2}), version=3, cancelled=frozenset({3}))
    # rows already posted, failed or cancelled are not cancelled again
    change = Change.of(Outcome("m", "j", frozenset(), cancelled=frozenset({1, 2, 3, 4})), before)
    assert change.cancelled == {4}
    # a cancelled row posted after a resume is no longer cancelled
    posted = Change.of(Outcome("m", "j", posted=frozenset({3})), before)
    assert (posted.posted, posted.uncancelled) == ({3}, {3})
    assert before.after(posted, True).cancelled == frozenset()
