"""`fanout run` as a user runs it: a process, the embedded stack, a real API on loopback."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from infra.demo.api import Call, DemoApi, Reply
from tests.e2e.cli import fanout

pytestmark = pytest.mark.e2e

TRICKY_VALUES = [
    "plain",
    "comma, inside",
    'a "quoted" word',
    "two\nlines",
    "crlf\r\ninside",
    "",
    "  spaces  ",
    "ünïcödé ✓ 日本語",
    "'single'",
    '"',
]


def write_tricky_csv(path: Path, rows: int) -> list[list[str]]:
    table = [[str(n), TRICKY_VALUES[n % len(TRICKY_VALUES)], f"x{n}"] for n in range(1, rows + 1)]
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(["id", "text", "other"])
        writer.writerows(table)
    return table


@pytest.fixture
def api() -> DemoApi:
    with DemoApi(latency_s=(0.0, 0.002), keep_payloads=True) as running:
        yield running


def test_every_row_arrives_exactly_once_with_exactly_its_values(tmp_path: Path, api: DemoApi) -> None:
    # GIVEN a file with BOM, CRLF and quoted commas, quotes and newlines
    source = tmp_path / "tricky.csv"
    table = write_tricky_csv(source, 1_500)
    report = tmp_path / "report.json"
    # WHEN it is run through the local stack
    result = fanout("run", str(source), "--api-url", api.url, "--report", str(report), "--concurrency", "4")
    # THEN it exits 0 and the report adds up
    assert result.returncode == 0, result.stderr
    data = json.loads(report.read_text())
    assert {k: data[k] for k in ("rows_total", "rows_posted", "rows_failed", "rows_rejected")} == {
        "rows_total": 1_500,
        "rows_posted": 1_500,
        "rows_failed": 0,
        "rows_rejected": 0,
    }
    assert data["duration_s"] > 0 and data["job_id"]
    # AND the API received every row once, as the file holds it
    job_id = data["job_id"]
    assert set(api.successes.values()) == {1}
    assert len(api.successes) == 1_500
    for number, row in enumerate(table, 1):
        assert api.payloads[f"{job_id}:{number}"] == {"id": row[0], "text": row[1], "other": row[2]}


def refuse_every_hundredth(call: Call) -> Reply:
    if int(call.payload["id"]) % 100 == 0:
        return Reply(400, body=b'{"error":"refused"}')
    return Reply()


def test_refused_rows_are_failed_counted_and_make_the_exit_code_one(tmp_path: Path, api: DemoApi) -> None:
    api.decide = refuse_every_hundredth
    source = tmp_path / "some-refused.csv"
    write_tricky_csv(source, 1_000)
    source.write_bytes(source.read_bytes() + b"1001,too,many,fields\r\n")
    report = tmp_path / "report.json"
    result = fanout("run", str(source), "--api-url", api.url, "--report", str(report))
    assert result.returncode == 1, result.stderr
    data = json.loads(report.read_text())
    assert (
        data["rows_total"],
        data["rows_posted"],
        data["rows_failed"],
        data["rows_rejected"],
    ) == (1001, 990, 10, 1)
    assert data["rows_posted"] + data["rows_failed"] + data["rows_rejected"] == data["rows_total"]
    assert "990 of 1001 rows posted, 10 failed, 1 rejected" in result.stdout
    assert all(n == 1 for n in api.attempts.values())


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        (b"", "the file is empty"),
        (b"id,name\n", "header but no data rows"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xff", "not valid utf-8"),
    ],
)
def test_bad_files_end_with_one_line_and_exit_two(
    tmp_path: Path, api: DemoApi, content: bytes | None, message: str
) -> None:
    source = tmp_path / "input.csv"
    if content is not None:
        source.write_bytes(content)
    result = fanout("run", str(source), "--api-url", api.url)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
    assert api.attempts == {}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--api-url", "http://127.0.0.1:9/rows"], "nothing answers at 127.0.0.1:9"),
        (["--api-url", "ftp://127.0.0.1/rows"], "expected an http:// or https:// URL"),
        (
            ["--api-url", "http://127.0.0.1:1/x", "--threads", "zero"],
            "'zero' is not a whole number",
        ),
        (["--api-url", "http://127.0.0.1:1/x", "--concurrency", "0"], "must be at least 1"),
        ([], "the following arguments are required: --api-url"),
    ],
)
def test_bad_flags_and_urls_end_with_one_line_and_exit_two(
    tmp_path: Path, args: list[str], message: str
) -> None:
    source = tmp_path / "ok.csv"
    source.write_text("a\n1\n")
    result = fanout("run", str(source), *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_shift_jis_spreadsheet_export_arrives_intact(tmp_path: Path, api: DemoApi) -> None:
    # GIVEN a Shift_JIS file as Japanese Excel writes it: CRLF, quoted multi-line cells
    rows = [["1", "山田 太郎", "東京都千代田区\r\n丸の内1-1"], ["2", "佐藤 花子", '「見積」と"引用"']]
    source = tmp_path / "顧客.csv"
    with source.open("w", encoding="cp932", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(["番号", "氏名", "住所"])
        writer.writerows(rows)
    report = tmp_path / "report.json"
    # WHEN it runs with its encoding named
    result = fanout("run", str(source), "--api-url", api.url, "--encoding", "cp932", "--report", str(report))
    # THEN every value arrives as the spreadsheet held it
    assert result.returncode == 0, result.stderr
    job_id = json.loads(report.read_text())["job_id"]
    for number, row in enumerate(rows, 1):
        assert api.payloads[f"{job_id}:{number}"] == {"番号": row[0], "氏名": row[1], "住所": row[2]}
    # AND without the setting, the file is refused before anything is attempted
    refused = fanout("run", str(source), "--api-url", api.url)
    assert refused.returncode == 2
    assert "not valid utf-8" in refused.stderr
