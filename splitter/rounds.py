"""Message sizes that share a job's rows evenly over whole rounds of worker invocations.

The workers take `round_messages` messages at once (WorkerReservedConcurrency invocations of
BatchSize messages), and an invocation lasts as long as its rows take. With full messages to
the end, a job whose messages come to 12.5 rounds runs a 13th round in which half of the
environments sit idle: at C = 64 on 100,000 rows, the last 6 s of 90 at half rate
(bench/README.md). So once the splitter has read half of the file, it estimates the job's rows
from the object's size and the bytes per row read so far, counts the rounds that full messages
would need, and gives each message still to be sent its share of the rows left over the
messages that fill those rounds.

A message keeps at least half of RowsPerMessage, and the first half of the file goes out in full
messages, so a job never sends more than half as many messages again (and their per-message
requests) as full messages take. Shrinking messages ever further towards the end (guided
self-scheduling) was measured and dropped: it multiplied invocations. The round is the
template's: a mapping throttled below it, jobs that share the workers, or AWS's ramp of the
mapping's concurrency make it a guess, and a wrong guess costs no more than those messages.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Rows read before bytes per row is a fair estimate of the rows left.
ESTIMATE_AFTER_ROWS = 1000


@dataclass(frozen=True)
class EvenRounds:
    rows_per_message: int
    round_messages: int  # messages one round of invocations takes: concurrency x batch size
    total_bytes: int  # the object's size
    start_offset: int  # where this split started reading (after a hand-off, not 0)
    start_row: int  # the first row this split reads

    @property
    def fewest_rows(self) -> int:
        return math.ceil(self.rows_per_message / 2)

    def rows_for(self, offset: int, row: int, messages_sent: int) -> int:
        """Rows for the message that starts with row number `row`, read up to byte `offset`."""
        if self.round_messages == 1:  # every message is a round of its own
            return self.rows_per_message
        rows_read = row - self.start_row + 1
        bytes_read = offset - self.start_offset
        if rows_read < ESTIMATE_AFTER_ROWS or bytes_read <= 0:
            return self.rows_per_message
        rows_left = 1 + max(0, self.total_bytes - offset) * rows_read / bytes_read
        if rows_left > rows_read:
            # Rows often grow along a file (wider ids, later dates): an estimate from its first
            # rows can be off by a round, and the messages it shrank cannot be taken back.
            return self.rows_per_message
        rows_total = row - 1 + rows_left
        rounds = math.ceil(rows_total / (self.round_messages * self.rows_per_message))
        messages_left = rounds * self.round_messages - messages_sent
        if messages_left <= 0:  # more rows than estimated: full messages for the rest
            return self.rows_per_message
        share = math.ceil(rows_left / messages_left)
        return max(self.fewest_rows, min(self.rows_per_message, share))
