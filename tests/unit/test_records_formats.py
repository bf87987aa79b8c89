"""Dialects, encodings and resuming: any table written by Python's csv writer comes back intact."""

from __future__ import annotations

import csv
import io

from hypothesis import given, settings
from hypothesis import strategies as st

from fanout.contract import Row
from fanout.formats import DELIMITERS, QUOTES, CsvFormat
from splitter.records import CsvRecords, Rejected, Resume, sniff_delimiter

ENCODABLE = {
    "utf-8": st.text(),
    "cp932": st.text(alphabet=st.sampled_from("abcXYZ019 ,;|\t\"'\r\nアイウエオ漢字日本語ー｡")),
    "latin-1": st.text(alphabet=st.characters(max_codepoint=255)),
}


def written(table: list[list[str]], delimiter: str, quote: str, encoding: str) -> bytes:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, quotechar=quote, quoting=csv.QUOTE_MINIMAL).writerows(table)
    return out.getvalue().encode(encoding)


def read_in_pieces(
    data: bytes, fmt: CsvFormat, stops: list[int], chunk: int
) -> tuple[tuple[str, ...], list[Row | Rejected]]:
    """Reads like a split that stops after some records and resumes from its checkpoint each time."""
    chunks = lambda start: [data[i : i + chunk] for i in range(start, len(data), chunk)]  # noqa: E731
    records = CsvRecords(chunks(0), fmt)
    columns, out = records.columns, []
    for stop in stops:
        for taken, record in enumerate(records, 1):
            out.append(record)
            if taken == stop:
                break
        resume = Resume(records.offset, (out[-1].number + 1) if out else 1, columns, records.delimiter)
        records = CsvRecords(chunks(resume.offset), fmt, resume)
    out.extend(records)
    return columns, out


cells = st.shared(st.sampled_from(sorted(ENCODABLE)), key="encoding").flatmap(lambda enc: ENCODABLE[enc])


@settings(max_examples=150, deadline=None)
@given(
    encoding=st.shared(st.sampled_from(sorted(ENCODABLE)), key="encoding"),
    delimiter=st.sampled_from([n for n in DELIMITERS if n != "auto"]),
    quote=st.sampled_from(sorted(QUOTES)),
    width=st.integers(1, 4),
    data=st.data(),
    stops=st.lists(st.integers(1, 5), max_size=4),
    chunk=st.integers(1, 64),
)
def test_any_table_in_any_dialect_and_encoding_arrives_identical_in_any_split(
    encoding: str, delimiter: str, quote: str, width: int, data: st.DataObject, stops: list[int], chunk: int
) -> None:
    header = [f"col{n}" for n in range(width)]
    body = data.draw(st.lists(st.lists(cells, min_size=width, max_size=width), max_size=12))
    # A row of one empty field is written as an empty line, which CSV cannot tell from no row.
    body = [row for row in body if row != [""]]
    fmt = CsvFormat(delimiter=delimiter, quote=quote, encoding=encoding)
    raw = written([header, *body], DELIMITERS[delimiter], QUOTES[quote], encoding)
    columns, records = read_in_pieces(raw, fmt, stops, chunk)
    assert columns == tuple(header)
    assert records == [Row(n, tuple(values)) for n, values in enumerate(body, 1)]


def test_shift_jis_from_a_spreadsheet_with_quoted_multiline_cells() -> None:
    text = '氏名,住所,備考\r\n"山田 太郎","東京都千代田区\r\n1-1","「引用」と""記号"""\r\n'
    records = CsvRecords([text.encode("cp932")], CsvFormat(encoding="cp932"))
    assert records.columns == ("氏名", "住所", "備考")
    assert list(records) == [Row(1, ("山田 太郎", "東京都千代田区\r\n1-1", '「引用」と"記号"'))]


def test_the_delimiter_is_sniffed_from_the_header() -> None:
    assert sniff_delimiter("a;b;c\r\n", '"') == ";"
    assert sniff_delimiter("a\tb\r\n", '"') == "\t"
    assert sniff_delimiter('"x,y"|b|c\n', '"') == "|"
    assert sniff_delimiter("single\n", '"') == ","
    records = CsvRecords([b"id;name\n1;a,b\n"])
    assert (records.delimiter, list(records)) == (";", [Row(1, ("1", "a,b"))])


def test_without_a_header_every_record_is_data() -> None:
    records = CsvRecords([b"1,a\n2,b\n"], CsvFormat(header="none"))
    assert records.columns == ("column_1", "column_2")
    assert list(records) == [Row(1, ("1", "a")), Row(2, ("2", "b"))]


def test_latin_1_and_single_quotes() -> None:
    records = CsvRecords(
        ["id,name\n1,'Zoë, Jr.'\n".encode("latin-1")], CsvFormat(encoding="latin-1", quote="single")
    )
    assert list(records) == [Row(1, ("1", "Zoë, Jr."))]
