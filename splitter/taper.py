"""Smaller messages at a file's end, so that its last round of invocations ends together.

The rows of a message are posted by the one invocation that receives it. With full messages to
the very end, a file's last round of invocations lasts as long as any other while only some
environments have one: at C = 64 on 100,000 rows, four of the eight environments sat idle for
the last 6 s of 95 (bench/README.md). So once the rows left would no longer fill a round of
full messages, each message gets the rows left shared over one more round (`round_messages`:
the worker's concurrency times its batch size), as in guided self-scheduling; messages shrink
as the end nears, down to MIN_ROWS.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Below this a message's rows take less time than the round trips its invocation makes
# (ledger read, settle, delete, receive: about 0.2 s on the local stack, bench/README.md).
MIN_ROWS = 10
# Rows read before bytes per row is a fair estimate of the rows left.
ESTIMATE_AFTER_ROWS = 1000


@dataclass(frozen=True)
class Taper:
    rows_per_message: int
    round_messages: int  # messages one round of invocations takes: concurrency x batch size
    total_bytes: int  # the object's size
    start_offset: int  # where this split started reading (after a hand-off, not 0)
    start_row: int

    def rows_for(self, offset: int, next_row: int) -> int:
        """Rows for the message that row `next_row`, at byte `offset`, goes into."""
        rows_read = next_row - self.start_row
        bytes_read = offset - self.start_offset
        if rows_read < ESTIMATE_AFTER_ROWS or bytes_read <= 0:
            return self.rows_per_message
        rows_left = max(0, self.total_bytes - offset) * rows_read / bytes_read
        share = math.ceil(rows_left / self.round_messages)
        return max(min(MIN_ROWS, self.rows_per_message), min(self.rows_per_message, share))
