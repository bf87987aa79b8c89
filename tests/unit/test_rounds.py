"""Message sizes that share a job's rows over whole rounds of worker invocations."""

from __future__ import annotations

import math

from splitter.rounds import ESTIMATE_AFTER_ROWS, EvenRounds

ROW_BYTES = 50


def sizes(rows: int, rows_per_message: int, round_messages: int) -> list[int]:
    """The messages a split of `rows` rows of ROW_BYTES bytes each would send."""
    rounds = EvenRounds(rows_per_message, round_messages, rows * ROW_BYTES, start_offset=0, start_row=1)
    out: list[int] = []
    row = 1
    while row <= rows:
        size = rounds.rows_for(row * ROW_BYTES, row, len(out))
        size = min(size, rows - row + 1)
        out.append(size)
        row += size
    return out


def test_a_job_of_twelve_and_a_half_rounds_fills_thirteen_whole_rounds() -> None:
    # 100,000 rows in messages of 100, 80 messages a round: 1,000 full messages are 12.5 rounds
    messages = sizes(100_000, 100, 80)
    assert len(messages) == 13 * 80
    assert sum(messages) == 100_000
    # the first half of the file goes out in full messages; then every message gets its share
    assert messages[:500] == [100] * 500
    assert set(messages[500:]) <= {92, 93}


def test_a_job_of_whole_rounds_keeps_full_messages() -> None:
    assert sizes(40_000, 100, 80) == [100] * 400


def test_messages_keep_at_least_half_their_rows() -> None:
    # 20,000 rows, less than one round of 3,000 messages (reserved concurrency 300, batch size 10):
    # full messages for the first half of the file, then half-full ones, no smaller
    assert sizes(20_000, 100, 3_000) == [100] * 100 + [50] * 200


def test_rows_that_grow_along_the_file_do_not_shrink_messages_before_its_second_half() -> None:
    rounds = EvenRounds(100, 80, 100_000 * ROW_BYTES, start_offset=0, start_row=1)
    # 20,000 rows read in a fifth of the bytes per row: 100,000 rows estimated, 80 % still to read
    assert rounds.rows_for(20_000 * ROW_BYTES // 5, 20_000, 200) == 100


def test_without_an_estimate_yet_messages_are_full() -> None:
    # two thirds of a 1,500-row file read, but fewer rows than a fair estimate needs
    rounds = EvenRounds(100, 80, 1_500 * ROW_BYTES, start_offset=0, start_row=1)
    row = ESTIMATE_AFTER_ROWS - 1
    assert rounds.rows_for(row * ROW_BYTES, row, 9) == 100


def test_a_resumed_split_estimates_from_what_it_read_itself() -> None:
    # a hand-off at row 50,001 of rows twice as wide as before: 500 messages went out already
    total_bytes = 50_000 * ROW_BYTES + 50_000 * 2 * ROW_BYTES
    rounds = EvenRounds(100, 80, total_bytes, start_offset=50_000 * ROW_BYTES, start_row=50_001)
    size = rounds.rows_for(50_000 * ROW_BYTES + 30_000 * 2 * ROW_BYTES, 80_000, 800)
    assert size == math.ceil((100_000 - 80_000 + 1) / (13 * 80 - 800))


def test_more_rows_than_estimated_get_full_messages() -> None:
    rounds = EvenRounds(100, 80, 10_000 * ROW_BYTES, start_offset=0, start_row=1)
    # 9,000 rows read from 90 % of the bytes: a round of 80 messages is 8,000 rows, so the job
    # looked like two rounds, and 170 messages went out: more than that already
    assert rounds.rows_for(9_000 * ROW_BYTES, 9_000, 170) == 100


def test_rounds_of_one_message_keep_every_message_full() -> None:
    # rows that grow along the file: the estimate is off, but any count of messages fills rounds
    rounds = EvenRounds(100, 1, 17_500 * ROW_BYTES, start_offset=0, start_row=1)
    assert rounds.rows_for(9_000 * ROW_BYTES - 7_000, 9_000, 89) == 100
