"""Message sizes at a file's end (splitter/taper.py)."""

from __future__ import annotations

from splitter.taper import ESTIMATE_AFTER_ROWS, MIN_ROWS, Taper

# 10 bytes a row, 100,000 rows; a round of 8 invocations x 10 messages takes 80 messages.
TAPER = Taper(rows_per_message=100, round_messages=80, total_bytes=1_000_000, start_offset=0, start_row=1)


def at_row(taper: Taper, row: int) -> int:
    return taper.rows_for(offset=(row - 1) * 10, next_row=row)


def test_messages_are_full_until_the_rows_left_no_longer_fill_a_round_of_them() -> None:
    assert at_row(TAPER, 5_000) == 100
    assert at_row(TAPER, 92_001) == 100  # 8,000 rows left: one round of full messages


def test_then_each_message_takes_the_rows_left_shared_over_one_more_round() -> None:
    assert at_row(TAPER, 96_001) == 50  # 4,000 rows left over 80 messages
    assert at_row(TAPER, 98_401) == 20
    sizes = [at_row(TAPER, row) for row in range(90_000, 100_001, 500)]
    assert sizes == sorted(sizes, reverse=True)


def test_messages_never_get_smaller_than_the_minimum_or_larger_than_configured() -> None:
    assert at_row(TAPER, 99_990) == MIN_ROWS
    assert at_row(TAPER, 100_001) == MIN_ROWS  # the estimate can run past the end
    small = Taper(rows_per_message=5, round_messages=80, total_bytes=1_000_000, start_offset=0, start_row=1)
    assert at_row(small, 99_990) == 5


def test_before_enough_rows_are_read_to_estimate_messages_are_full() -> None:
    # A 500-row file would be all "end", but its bytes per row are not known yet
    tiny = Taper(rows_per_message=100, round_messages=80, total_bytes=5_000, start_offset=0, start_row=1)
    assert [at_row(tiny, row) for row in (1, 250, 500)] == [100, 100, 100]
    assert at_row(TAPER, ESTIMATE_AFTER_ROWS) == 100


def test_a_split_resumed_mid_file_estimates_from_what_it_has_read_itself() -> None:
    resumed = Taper(
        rows_per_message=100, round_messages=80, total_bytes=1_000_000, start_offset=960_000, start_row=96_001
    )
    assert resumed.rows_for(offset=980_000, next_row=98_001) == 25  # 2,000 rows left
