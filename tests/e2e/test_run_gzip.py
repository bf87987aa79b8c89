"""`fanout run` of a gzip-compressed CSV runs like its CSV."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.demo.api import DemoApi
from tests.e2e.cli import fanout

pytestmark = pytest.mark.e2e


@pytest.fixture
def api() -> Iterator[DemoApi]:
    with DemoApi(latency_s=(0.0, 0.002), keep_payloads=True) as running:
        yield running


def test_a_csv_gz_posts_every_row_once_with_its_values(tmp_path: Path, api: DemoApi) -> None:
    # GIVEN a gzip-compressed CSV of 3,000 rows with quoted commas and newlines
    source = tmp_path / "customers.csv.gz"
    lines = ["id,name"] + [f'{n},"person {n}, ü\nsecond line"' for n in range(1, 3001)]
    source.write_bytes(gzip.compress(("\r\n".join(lines) + "\r\n").encode()))
    report = tmp_path / "report.json"
    # WHEN it is run
    result = fanout("run", str(source), "--api-url", api.url, "--report", str(report), "--concurrency", "4")
    # THEN every row was posted once, with its values decompressed
    assert result.returncode == 0, result.stderr
    data = json.loads(report.read_text())
    assert (data["rows_total"], data["rows_posted"], data["rows_rejected"]) == (3000, 3000, 0)
    assert set(api.successes.values()) == {1} and len(api.successes) == 3000
    assert api.payloads[f"{data['job_id']}:7"] == {"id": "7", "name": "person 7, ü\nsecond line"}


def test_a_file_named_gz_that_is_not_gzip_is_refused_before_anything_runs(
    tmp_path: Path, api: DemoApi
) -> None:
    source = tmp_path / "plain.csv.gz"
    source.write_text("id,name\n1,a\n")
    result = fanout("run", str(source), "--api-url", api.url)
    assert result.returncode == 2
    assert result.stderr.strip().endswith(
        "not valid gzip data (Error -3 while decompressing data: incorrect header check)"
    )
    assert len(result.stderr.strip().splitlines()) == 1
