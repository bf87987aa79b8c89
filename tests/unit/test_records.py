import csv
import io

import pytest

from fanout.contract import Row
from fanout.errors import InputError
from splitter.records import CsvRecords, Rejected, physical_lines


def chunked(data: bytes, size: int = 7) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def test_physical_lines_keep_their_endings_across_chunks() -> None:
    # GIVEN bytes split at awkward places
    data = b"a,b\r\n1,2\n3,4"
    # WHEN split into lines
    lines = list(physical_lines(chunked(data, 3)))
    # THEN every byte is kept, each line ends where its newline is
    assert lines == [b"a,b\r\n", b"1,2\n", b"3,4"]


def test_quoted_fields_with_commas_quotes_and_newlines_survive() -> None:
    # GIVEN a table written by Python's csv writer with tricky values
    table = [["id", "text"], ["1", 'comma, "quote"'], ["2", "two\r\nlines"], ["3", "üñí ✓"]]
    out = io.StringIO()
    csv.writer(out).writerows(table)
    # WHEN read back from UTF-8 bytes in small chunks
    records = CsvRecords(chunked(out.getvalue().encode()))
    # THEN the header and every row come back identical, numbered from 1
    assert records.columns == ("id", "text")
    assert list(records) == [Row(n, tuple(values)) for n, values in enumerate(table[1:], 1)]


def test_utf8_bom_is_not_part_of_the_first_column() -> None:
    records = CsvRecords([b"\xef\xbb\xbfid,name\r\n1,a\r\n"])
    assert records.columns == ("id", "name")
    assert list(records) == [Row(1, ("1", "a"))]


def test_wrong_field_count_is_rejected_with_reason_and_others_go_through() -> None:
    records = CsvRecords([b"a,b\n1,2\n3\n4,5,6\n7,8\n"])
    result = list(records)
    assert result[0] == Row(1, ("1", "2"))
    assert isinstance(result[1], Rejected) and result[1].number == 2
    assert result[1].reason == "expected 2 fields, found 1"
    assert isinstance(result[2], Rejected) and result[2].reason == "expected 2 fields, found 3"
    assert result[3] == Row(4, ("7", "8"))


def test_undecodable_bytes_reject_only_their_record() -> None:
    records = CsvRecords([b"a,b\n1,ok\n2,\xff\xfe\n3,fine\n"])
    result = list(records)
    assert result[0] == Row(1, ("1", "ok"))
    assert isinstance(result[1], Rejected)
    assert result[1].number == 2 and "not valid utf-8" in result[1].reason
    assert result[2] == Row(3, ("3", "fine"))


def test_malformed_quoting_is_rejected_and_reading_continues() -> None:
    result = list(CsvRecords([b'a,b\n1,"x"y\n2,z\n']))
    assert isinstance(result[0], Rejected) and result[0].number == 1
    assert result[1] == Row(2, ("2", "z"))


def test_blank_lines_are_not_records() -> None:
    assert list(CsvRecords([b"a\n\n1\n\n2\n"])) == [Row(1, ("1",)), Row(2, ("2",))]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"\n\n", "empty"),
        (b"\xff\xfe\x00a\x00,\x00b\n", "not valid utf-8"),
        (b"a,b,a\n1,2,3\n", "names a column twice: a"),
    ],
)
def test_a_file_without_a_usable_header_is_an_input_error(data: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        CsvRecords([data])
