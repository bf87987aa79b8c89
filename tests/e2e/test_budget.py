"""The API's budget: a limited API sees few 429s with the budget set, and every row either way."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.limited_api import LimitedApi
from infra.demo.api import DemoApi
from tests.e2e.cli import fanout

pytestmark = pytest.mark.e2e

ROWS = 600
RATE = 100.0
IN_FLIGHT = 8


@pytest.fixture
def limited() -> Iterator[tuple[DemoApi, LimitedApi]]:
    # A sliding one-second window, the limiter a burst overruns (a token bucket allows one).
    policy = LimitedApi(per_second=RATE, max_in_flight=IN_FLIGHT, latency_s=0.02, kind="window")
    with DemoApi(latency_s=(0.0, 0.0), decide=policy) as api:
        yield api, policy


def write(path: Path) -> Path:
    path.write_text("id\n" + "".join(f"{n}\n" for n in range(1, ROWS + 1)))
    return path


def test_with_the_budget_set_to_the_apis_limits_few_calls_are_refused(
    tmp_path: Path, limited: tuple[DemoApi, LimitedApi]
) -> None:
    api, policy = limited
    report = tmp_path / "r.json"
    result = fanout(
        "run",
        str(write(tmp_path / "budget.csv")),
        "--api-url",
        api.url,
        "--report",
        str(report),
        "--max-rps",
        str(RATE),
        "--max-in-flight",
        str(IN_FLIGHT),
        "--concurrency",
        "4",
        # Batches of 50 rows: all four environments post, and come and go between batches.
        "--param",
        "RowsPerMessage=5",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(report.read_text())["rows_posted"] == ROWS
    assert len(api.successes) == ROWS
    # Under 3%: this test shares the 2 cores with another (make test runs two workers), and a
    # thread woken late bunches calls; the 1% is bench/protection.py's figure, measured
    # alone. Before the shared budget, 8% of this run's calls were answered 429.
    assert policy.refused <= 0.03 * (policy.accepted + policy.refused)


def test_without_a_budget_adaptive_back_off_still_gets_every_row_through(tmp_path: Path) -> None:
    # An API far tighter than the 64 calls in flight the run starts with: it must throttle.
    policy = LimitedApi(per_second=50, max_in_flight=2, latency_s=0.02)
    with DemoApi(latency_s=(0.0, 0.0), decide=policy) as api:
        run_without_budget(tmp_path, api, policy)


def run_without_budget(tmp_path: Path, api: DemoApi, policy: LimitedApi) -> None:
    report = tmp_path / "r.json"
    result = fanout(
        "run", str(write(tmp_path / "nobudget.csv")), "--api-url", api.url, "--report", str(report)
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(report.read_text())
    assert (data["rows_posted"], data["rows_failed"]) == (ROWS, 0)
    assert set(api.successes.values()) == {1}, result.stderr[-5000:]
    assert policy.refused > 0  # it was throttled, and recovered
    assert data["calls_throttled"] > 0  # and the report shows it
