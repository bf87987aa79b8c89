from fanout.contract import Row, WorkMessage, encoded_size
from splitter.batching import MESSAGE_SIZE_MARGIN_BYTES, MessageBuilder, Oversized, send_batches


def rows(count: int, width: int = 10) -> list[Row]:
    return [Row(n, (str(n), "x" * width)) for n in range(1, count + 1)]


def pack(builder: MessageBuilder, items: list[Row]) -> list[WorkMessage | Oversized]:
    out: list[WorkMessage | Oversized] = []
    for row in items:
        out.extend(builder.add(row))
    out.extend(builder.flush())
    return out


def test_messages_hold_at_most_rows_per_message_and_keep_every_row_in_order() -> None:
    builder = MessageBuilder("job", ("id", "v"), rows_per_message=4, max_bytes=262_144)
    messages = pack(builder, rows(10))
    assert all(isinstance(m, WorkMessage) for m in messages)
    assert [len(m.rows) for m in messages if isinstance(m, WorkMessage)] == [4, 4, 2]
    assert [m.seq for m in messages if isinstance(m, WorkMessage)] == [1, 2, 3]
    numbers = [r.number for m in messages if isinstance(m, WorkMessage) for r in m.rows]
    assert numbers == list(range(1, 11))


def test_messages_stay_under_the_byte_limit() -> None:
    limit = MESSAGE_SIZE_MARGIN_BYTES + 2_000
    builder = MessageBuilder("job", ("id", "v"), rows_per_message=1_000, max_bytes=limit)
    messages = [m for m in pack(builder, rows(100, width=100)) if isinstance(m, WorkMessage)]
    assert len(messages) > 1
    assert all(encoded_size(m.to_body()) <= limit - MESSAGE_SIZE_MARGIN_BYTES for m in messages)
    assert sum(len(m.rows) for m in messages) == 100


def test_a_row_too_large_for_any_message_is_reported_not_sent() -> None:
    builder = MessageBuilder(
        "job", ("id", "v"), rows_per_message=10, max_bytes=MESSAGE_SIZE_MARGIN_BYTES + 500
    )
    out = pack(builder, [Row(1, ("1", "small")), Row(2, ("2", "y" * 5_000)), Row(3, ("3", "small"))])
    oversized = [o for o in out if isinstance(o, Oversized)]
    assert [o.row.number for o in oversized] == [2]
    assert "row too large" in oversized[0].reason
    sent = [r.number for m in out if isinstance(m, WorkMessage) for r in m.rows]
    assert sent == [1, 3]


def test_send_batches_hold_ten_entries_and_respect_the_total_size() -> None:
    entries = [(str(i), "a" * 100) for i in range(25)]
    assert [len(b) for b in send_batches(entries, 262_144)] == [10, 10, 5]
    big = [(str(i), "b" * 100_000) for i in range(5)]
    batches = list(send_batches(big, 262_144))
    assert [len(b) for b in batches] == [2, 2, 1]
