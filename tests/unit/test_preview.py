"""fanout preview: the requests a file becomes, and the rows it would reject, sending nothing."""

import json
from pathlib import Path

import pytest

from infra.cli.main import main

SPEC = """\
method: PUT
url: /customers/{id}
headers: {X-Tenant: "{tenant}", Authorization: "Bearer not-for-the-screen"}
columns: {age: integer, active: boolean}
empty: null
"""


def run_preview(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[dict[str, object]], str]:
    code = main(["preview", *argv])
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines()], err


def test_preview_shows_requests_and_rejections(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a file with a bad integer and a malformed record, and a spec
    csv = tmp_path / "c.csv"
    csv.write_text("id,tenant,age,active\n007,t1,42,yes\n8,t1,old,no\n9,t2,,0\n10,t2\n11,t3,1,1\n")
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    # WHEN previewed, two requests shown
    code, lines, err = run_preview(
        capsys, str(csv), "--request", str(spec), "--rows", "2", "--api-url", "http://127.0.0.1:1/api"
    )
    # THEN those two, masked, and every rejected row with its reason
    assert code == 0
    assert lines == [
        {
            "row": 1,
            "method": "PUT",
            "url": "http://127.0.0.1:1/api/customers/007",
            "headers": {
                "Content-Type": "application/json",
                "X-Tenant": "t1",
                "Authorization": "***",
                "Idempotency-Key": "{job}:1",
            },
            "body": {"id": "007", "tenant": "t1", "age": 42, "active": True},
        },
        {"row": 2, "rejected": "column age: not an integer", "column": "age", "excerpt": "old"},
        {
            "row": 3,
            "method": "PUT",
            "url": "http://127.0.0.1:1/api/customers/9",
            "headers": {
                "Content-Type": "application/json",
                "X-Tenant": "t2",
                "Authorization": "***",
                "Idempotency-Key": "{job}:3",
            },
            "body": {"id": "9", "tenant": "t2", "age": None, "active": False},
        },
        {"row": 4, "rejected": "expected 4 fields, found 2", "excerpt": "10,t2"},
    ]
    assert "not-for-the-screen" not in err
    assert "5 rows, 2 requests shown, 2 rows would be rejected" in err


def test_preview_without_a_spec_shows_todays_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "c.csv"
    csv.write_text("id;name\n1;Ann\n", encoding="utf-8")
    code, lines, _ = run_preview(capsys, str(csv), "--delimiter", "semicolon")
    assert code == 0
    assert lines == [
        {
            "row": 1,
            "method": "POST",
            "url": "{ApiUrl}",
            "headers": {"Content-Type": "application/json", "Idempotency-Key": "{job}:1"},
            "body": {"id": "1", "name": "Ann"},
        }
    ]


@pytest.mark.parametrize(
    ("spec_text", "suffix", "message"),
    [
        ("url: /c/{idd}\n", ".yaml", "url: placeholder {idd} names no column (the file's columns: id, name)"),
        ("colums: {}\n", ".yml", "unknown field 'colums' (fields: method, url, query, headers, columns"),
        ("method: [\n", ".yaml", "not valid YAML: "),
        (
            '{"method": "PUT",}',
            ".json",
            "not valid JSON: Expecting property name enclosed in double quotes at line 1",
        ),
        ("date: 2024-01-01\n", ".yaml", "unknown field 'date'"),
        ("columns: {name: text}\n", ".yaml", "columns.name: 'text' is not a type"),
    ],
)
def test_a_bad_spec_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], spec_text: str, suffix: str, message: str
) -> None:
    csv = tmp_path / "c.csv"
    csv.write_text("id,name\n1,Ann\n")
    spec = tmp_path / f"spec{suffix}"
    spec.write_text(spec_text)
    code, lines, err = run_preview(capsys, str(csv), "--request", str(spec))
    assert (code, lines) == (2, [])
    assert err.startswith(f"fanout preview: error: request spec {spec}: {message}")
    assert err.count("\n") == 1


def test_a_missing_spec_file_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "c.csv"
    csv.write_text("id\n1\n")
    code, _, err = run_preview(capsys, str(csv), "--request", str(tmp_path / "nope.yaml"))
    assert code == 2
    assert err == f"fanout preview: error: request spec {tmp_path / 'nope.yaml'}: no such file\n"
