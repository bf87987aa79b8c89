"""A request spec end to end: `fanout run --request`, `fanout drop --request`, and a redrive after
the spec object changed, against a loopback API that checks what each row became."""

from __future__ import annotations

import argparse
import csv
import io
import json
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from fanout.jobs import JobStore
from fanout.request_store import REQUESTS_PREFIX
from infra.demo.api import Call, DemoApi, Reply
from infra.ops.stack_ref import connect
from tests.e2e.cli import fanout, free_port, local_up

pytestmark = pytest.mark.e2e

ROWS = 300
SPEC = """\
method: PUT
url: /customers/{id}
query: {source: fanout, region: "{region}"}
headers: {X-Tenant: "{tenant}"}
columns: {age: integer, score: number, active: boolean, tags: json, address.zip: string}
empty: null
outcomes:
  success: [2xx, 409]
"""


def write_customers(path: Path, rows: int = ROWS, bad: frozenset[int] = frozenset()) -> None:
    """Row n: id 00n (leading zeros), age n (or "old" where bad), every 10th without a score."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["id", "region", "tenant", "age", "score", "active", "tags", "address.city", "address.zip"]
        )
        for n in range(1, rows + 1):
            score = "" if n % 10 == 0 else f"{n}e-1"
            age = "old" if n in bad else str(n)
            tags = json.dumps(["t", n])
            writer.writerow(
                [
                    f"{n:05d}",
                    "eu west",
                    f"t{n % 3}",
                    age,
                    score,
                    "YES" if n % 2 else "no",
                    tags,
                    "Paris",
                    "0750" + str(n % 10),
                ]
            )


def expected_call(job_id: str, n: int) -> dict[str, Any]:
    return {
        "method": "PUT",
        "path": f"/api/customers/{n:05d}",
        "query": {"source": "fanout", "region": "eu west"},
        "tenant": f"t{n % 3}",
        "key": f"{job_id}:{n}",
        "payload": {
            "id": f"{n:05d}",
            "region": "eu west",
            "tenant": f"t{n % 3}",
            "age": n,
            "score": None if n % 10 == 0 else float(f"{n}e-1"),
            "active": n % 2 == 1,
            "tags": ["t", n],
            "address": {"city": "Paris", "zip": "0750" + str(n % 10)},
        },
    }


def seen(call: Call) -> dict[str, Any]:
    return {
        "method": call.method,
        "path": call.route,
        "query": call.query,
        "tenant": call.headers.get("X-Tenant"),
        "key": call.key,
        "payload": call.payload,
    }


def conflict_every_seventh(call: Call) -> Reply:
    """409 ("already exists") for ids divisible by 7: the spec counts those as posted."""
    return Reply(409, body=b'{"error":"exists"}') if int(call.route.rsplit("/", 1)[1]) % 7 == 0 else Reply()


@pytest.fixture
def api() -> Iterator[DemoApi]:
    with DemoApi(latency_s=(0.0, 0.0), keep_payloads=True) as running:
        yield running


def test_run_with_a_spec_sends_every_row_as_the_spec_says(tmp_path: Path, api: DemoApi) -> None:
    # GIVEN a file with typed and dotted columns, two unconvertible ages, and a spec
    source = tmp_path / "customers.csv"
    write_customers(source, bad=frozenset({13, 200}))
    spec = tmp_path / "customers.yaml"
    spec.write_text(SPEC)
    api.decide = conflict_every_seventh
    report = tmp_path / "report.json"
    # WHEN it runs with the spec
    base = api.url.removesuffix("/rows") + "/api"
    result = fanout("run", str(source), "--request", str(spec), "--api-url", base, "--report", str(report))
    # THEN the two bad rows are rejected, the 409s count as posted
    assert result.returncode == 1, result.stderr
    data = json.loads(report.read_text())
    assert (data["rows_total"], data["rows_posted"], data["rows_failed"], data["rows_rejected"]) == (
        ROWS,
        ROWS - 2,
        0,
        2,
    )
    # AND each row arrived once with the method, path, query, header and typed body the spec says
    job_id = data["job_id"]
    posted = [n for n in range(1, ROWS + 1) if n not in (13, 200)]
    successes = {c.key: seen(c) for c in api.calls.values()}
    assert set(api.successes.values()) == {1}
    not_conflicts = [n for n in posted if n % 7]
    assert sorted(successes) == sorted(f"{job_id}:{n}" for n in not_conflicts)
    for n in not_conflicts:
        assert successes[f"{job_id}:{n}"] == expected_call(job_id, n)
    # AND the conflicts were not retried
    assert all(api.attempts[f"{job_id}:{n}"] == 1 for n in posted if n % 7 == 0)


def test_run_refuses_a_spec_that_names_a_missing_column_before_anything_starts(
    tmp_path: Path, api: DemoApi
) -> None:
    source = tmp_path / "customers.csv"
    write_customers(source, rows=3)
    spec = tmp_path / "bad.yaml"
    spec.write_text("url: /customers/{customer_id}\n")
    result = fanout("run", str(source), "--request", str(spec), "--api-url", api.url)
    assert result.returncode == 2
    assert result.stderr == (
        f"fanout run: error: request spec {spec}: url: placeholder {{customer_id}} names no column "
        "(the file's columns: id, region, tenant, age, score, active, tags, address.city, address.zip)\n"
    )
    assert api.stats()["calls"] == 0


def test_local_up_refuses_a_bad_spec_before_the_stack_starts(tmp_path: Path, api: DemoApi) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text("url: /customers/{id}\ncolumns: {age: int}\n")
    result = fanout("local", "up", "--api-url", api.url, "--port", str(free_port()), "--request", str(spec))
    assert result.returncode == 2
    assert result.stderr == (
        f"fanout local: error: request spec {spec}: columns.age: 'int' is not a type "
        "(string, integer, number, boolean, json)\n"
    )
    assert result.stdout == ""


def stack_fanout(endpoint: str, *args: str) -> subprocess.CompletedProcess[str]:
    return fanout(*args, env={"AWS_ENDPOINT_URL": endpoint}, timeout=120)


def wait_for_counts(
    jobs: JobStore, job_id: str, counts: list[int], state: str = "done_with_failures"
) -> None:
    """Until the job's record has its total, posted, failed and rejected rows as `counts`, in `state`."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job = jobs.get(job_id)
        seen = (
            (job.state, [job.rows_total, job.rows_posted, job.rows_failed, job.rows_rejected])
            if job
            else None
        )
        if seen == (state, counts):
            return
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not reach {state} {counts}: {seen}")


def status_counts(endpoint: str, job_id: str) -> tuple[str, list[int]]:
    """The job's state and total, posted, failed and rejected rows as `fanout status` shows them."""
    row = stack_fanout(endpoint, "status", job_id).stdout.splitlines()[1].split()
    return row[1], [int(x) for x in row[2:6]]


# The local stack's default request (`fanout local up --request`), for files dropped without one.
STACK_SPEC = """\
method: PATCH
url: /people/{id}
columns: {age: integer}
"""


def test_drop_with_a_spec_and_a_redrive_after_the_spec_changed_sends_the_old_requests(
    tmp_path: Path, api: DemoApi
) -> None:
    # GIVEN a local stack with a default request of its own, and an API that refuses customer
    # ids divisible by 5 for now
    refusing = True
    api.decide = lambda call: (
        Reply(400, body=b'{"error":"not yet"}')
        if refusing
        and call.route.startswith("/rows/customers/")
        and int(call.route.rsplit("/", 1)[1]) % 5 == 0
        else Reply()
    )
    stack_spec = tmp_path / "people.yaml"
    stack_spec.write_text(STACK_SPEC)
    # (a fifth of the rows failing would halt the job at the default failure threshold; the
    # workers run in this stack's process: two rounds of a hundred rows need no more)
    flags = ("--concurrency", "2", "--processes", "1", "--param", "ToleratedFailurePercent=100")
    with local_up(api.url, *flags, "--request", str(stack_spec)) as endpoint:
        stack = connect(argparse.Namespace(endpoint_url=endpoint, stack=None))
        jobs = JobStore(stack.session.client("dynamodb"), stack.outputs["JobsTableName"])
        source = tmp_path / "customers.csv"
        write_customers(source, rows=100, bad=frozenset({13}))
        spec = tmp_path / "customers.yaml"
        spec.write_text(SPEC)
        people = tmp_path / "people.csv"
        people.write_text("id,age\n7,30\n8,31\n")
        # WHEN the file is dropped with the spec, and another without one, at once
        with ThreadPoolExecutor(2) as pool:
            drops = pool.map(
                lambda args: stack_fanout(endpoint, "drop", *args),
                [(str(source), "--request", str(spec)), (str(people),)],
            )
            dropped, plain = list(drops)
        assert dropped.returncode == 0, dropped.stderr
        assert plain.returncode == 0, plain.stderr
        job_id, people_job = dropped.stdout.split()[0], plain.stdout.split()[0]
        wait_for_counts(jobs, job_id, [100, 79, 20, 1])
        # THEN the file without a spec was sent as the stack's default request says
        wait_for_counts(jobs, people_job, [2, 2, 0, 0], state="done")
        assert sorted(
            (c.method, c.route, c.payload) for k, c in api.calls.items() if k.startswith(people_job + ":")
        ) == [
            ("PATCH", "/rows/people/7", {"id": "7", "age": 30}),
            ("PATCH", "/rows/people/8", {"id": "8", "age": 31}),
        ]
        # AND the spec object is replaced by one that would send something else entirely
        s3, bucket = stack.session.client("s3"), stack.outputs["DataBucketName"]
        # (the unconvertible row is in the rejects file with its column, value and reason)
        rejects = s3.get_object(Bucket=bucket, Key=f"rejects/{job_id}.csv")["Body"].read().decode()
        assert list(csv.reader(io.StringIO(rejects))) == [
            ["row_number", "reason", "excerpt", "column"],
            ["13", "column age: not an integer", "old", "age"],
        ]
        s3.put_object(
            Bucket=bucket,
            Key=f"{REQUESTS_PREFIX}customers.json",
            Body=b'{"method": "DELETE", "url": "/gone/{id}"}',
        )
        # AND the API is fixed and the dead letters redriven
        refusing = False
        moved = stack_fanout(endpoint, "redrive", "--job", job_id)
        assert moved.returncode == 0, moved.stderr
        wait_for_counts(jobs, job_id, [100, 99, 0, 1])
        assert status_counts(endpoint, job_id) == ("done_with_failures", [100, 99, 0, 1])
    # THEN the redriven rows went out as the spec said when the job started, not as it says now
    assert len([k for k in api.calls if k.startswith(job_id + ":")]) == 99
    for n in range(1, 101):
        if n != 13:
            call = api.calls[f"{job_id}:{n}"]
            assert seen(call) == {**expected_call(job_id, n), "path": f"/rows/customers/{n:05d}"}
