"""Every row's outcome as a user gets it: `fanout run --results`, `fanout results`, `fanout status`."""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.demo.api import Call, DemoApi, Reply
from tests.e2e.cli import fanout, local_up

pytestmark = pytest.mark.e2e

ROWS = 600


@pytest.fixture
def api() -> Iterator[DemoApi]:
    with DemoApi(latency_s=(0.0, 0.002)) as running:
        running.decide = created_or_refused
        yield running


def created_or_refused(call: Call) -> Reply:
    """Creates `R<id>`, except ids that are multiples of 13, which it refuses."""
    row_id = int(call.payload["id"])
    if row_id % 13 == 0:
        return Reply(422, body=b'{"error":"id is unlucky"}')
    return Reply(201, headers={"ETag": f'"e{row_id}"'}, body=json.dumps({"id": f"R{row_id}"}).encode())


def write_file(path: Path) -> None:
    """ROWS rows whose id is their row number, and row ROWS + 1 malformed (one field too many)."""
    lines = ["id,name"] + [f"{n},name {n}" for n in range(1, ROWS + 1)] + [f"{ROWS + 1},too,many"]
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")


def expected_outcome(n: int) -> tuple[str, str]:
    if n == ROWS + 1:
        return "rejected", ""
    return ("failed", "422") if n % 13 == 0 else ("posted", "201")


def test_run_writes_one_record_per_row_matching_what_the_api_answered(tmp_path: Path, api: DemoApi) -> None:
    # GIVEN a file with a malformed record, against an API that refuses some rows
    source = tmp_path / "customers.csv"
    write_file(source)
    out = tmp_path / "results.csv"
    report = tmp_path / "report.json"
    spec = tmp_path / "spec.json"
    spec.write_text(
        json.dumps({"capture": {"customer_id": "id", "etag": "headers.etag", "missing": "no.such"}})
    )
    # WHEN it is run with --results and a spec that captures the created id and the ETag
    args = ["--request", str(spec), "--results", str(out), "--report", str(report)]
    result = fanout("run", str(source), "--api-url", api.url, *args)
    # THEN the run finished with failures, and the results file matches the file row for row
    assert result.returncode == 1, result.stderr
    with out.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["row_number"]) for r in rows] == list(range(1, ROWS + 2))
    assert [(r["outcome"], r["http_status"]) for r in rows] == [
        expected_outcome(n) for n in range(1, ROWS + 2)
    ]
    assert rows[12]["reason"] == "HTTP 422"
    # AND each posted row carries what the API answered; a refused or rejected one, nothing
    captured = [(r["customer_id"], r["etag"], r["missing"]) for r in rows]
    assert captured == [
        (f"R{n}", f'"e{n}"', "") if expected_outcome(n)[0] == "posted" else ("", "", "")
        for n in range(1, ROWS + 2)
    ]
    assert rows[ROWS]["reason"] == "expected 2 fields, found 3"
    assert json.loads(report.read_text())["results"] == str(out)


def test_results_of_a_job_on_a_running_stack_as_csv_or_json_lines(tmp_path: Path, api: DemoApi) -> None:
    source = tmp_path / "customers.csv"
    write_file(source)
    with local_up(api.url) as endpoint:
        env = {"AWS_ENDPOINT_URL": endpoint}
        dropped = fanout("drop", str(source), env=env)
        assert dropped.returncode == 0, dropped.stderr
        job_id = dropped.stdout.split()[0]
        # WHEN the job has finished
        deadline = time.monotonic() + 120
        while "results: s3://" not in (status := fanout("status", job_id, env=env)).stdout:
            assert time.monotonic() < deadline, status.stdout + status.stderr
            time.sleep(0.5)
        # THEN `fanout status` names the results, and `fanout results` gives only the failures
        # as JSON lines, or every row as CSV
        failed = fanout("results", job_id, "--format", "jsonl", "--failed-only", env=env)
        everything = fanout("results", job_id, "--out", str(tmp_path / "all.csv"), env=env)
        missing = fanout("results", "no-such-job", env=env)
    assert failed.returncode == 0, failed.stderr
    records = [json.loads(line) for line in failed.stdout.splitlines()]
    assert [(r["row_number"], r["outcome"], r["http_status"]) for r in records] == [
        *((n, "failed", 422) for n in range(13, ROWS + 1, 13)),
        (ROWS + 1, "rejected", None),
    ]
    assert everything.returncode == 0, everything.stderr
    with (tmp_path / "all.csv").open(encoding="utf-8", newline="") as handle:
        assert len(list(csv.DictReader(handle))) == ROWS + 1
    assert missing.returncode == 2
    assert missing.stderr.strip() == f"fanout results: error: no job no-such-job in {endpoint}"
