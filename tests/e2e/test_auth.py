"""Credentials end to end: `fanout run` / `local up` with `--secret`, against loopback APIs that
check them as the real services do; the secret's value in no output, log line, dead letter or
report."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from infra.demo.api import DemoApi
from infra.local.stack import LOCAL_ACCOUNT, LOCAL_REGION, LOCAL_STACK_NAME
from tests.auth_apis import ApiKeyCheck
from tests.e2e.cli import fanout, local_up

pytestmark = pytest.mark.e2e

CREDENTIAL = "Bearer e2e-credential-4c1f9a"
ROWS = 300


@pytest.fixture
def api() -> Iterator[DemoApi]:
    with DemoApi(latency_s=(0.0, 0.002)) as running:
        yield running


def rows_file(tmp_path: Path, rows: int = ROWS) -> Path:
    source = tmp_path / "people.csv"
    source.write_text("id,name\n" + "".join(f"{n},person {n}\n" for n in range(1, rows + 1)))
    return source


def secret_file(tmp_path: Path, value: str) -> Path:
    path = tmp_path / "credential"
    path.write_text(value + "\n")
    return path


def secret_arn(name: str) -> str:
    """The local secret `fanout-local/NAME` by ARN, as ApiAuthSecretArn names one."""
    return f"arn:aws:secretsmanager:{LOCAL_REGION}:{LOCAL_ACCOUNT}:secret:{LOCAL_STACK_NAME}/{name}"


def assert_nowhere(value: str, **places: str) -> None:
    for where, text in places.items():
        assert value not in text, f"the secret's value is in {where}"
    # Nor a telling part of it (a token without its "Bearer ").
    assert not any(value.split()[-1] in text for text in places.values())


def test_run_with_a_secret_from_a_file_sends_it_on_every_row_and_shows_it_nowhere(
    tmp_path: Path, api: DemoApi
) -> None:
    # GIVEN an API that refuses calls without its credential, and the credential in a file
    check = api.decide = ApiKeyCheck("Authorization", CREDENTIAL)
    report = tmp_path / "report.json"
    # WHEN the file runs with the secret put into the local stack, named by ApiAuthSecretArn
    result = fanout(
        "run",
        str(rows_file(tmp_path)),
        "--api-url",
        api.url,
        "--secret",
        f"api-credential=@{secret_file(tmp_path, CREDENTIAL)}",
        "--param",
        f"ApiAuthSecretArn={secret_arn('api-credential')}",
        "--report",
        str(report),
        "--concurrency",
        "4",
    )
    # THEN every row was posted with it, no call was refused, and it is in no output or report
    assert result.returncode == 0, result.stderr
    assert json.loads(report.read_text())["rows_posted"] == ROWS
    assert check.refusals == [] and check.accepted == ROWS
    assert_nowhere(CREDENTIAL, stdout=result.stdout, stderr=result.stderr, report=report.read_text())


def test_a_wrong_secret_fails_rows_with_a_clear_reason_and_no_dead_letter_holds_the_value(
    tmp_path: Path, api: DemoApi
) -> None:
    # GIVEN `local up` with a wrong credential in its Secrets Manager
    wrong = "Bearer e2e-wrong-credential-0b7d"
    api.decide = ApiKeyCheck("Authorization", CREDENTIAL)
    log = (tmp_path / "local-up.log").open("w+")
    flags = ("--secret", "api-credential=env:FANOUT_E2E_CREDENTIAL")
    with local_up(
        api.url,
        *flags,
        "--param",
        f"ApiAuthSecretArn={secret_arn('api-credential')}",
        log=log,
        env={"FANOUT_E2E_CREDENTIAL": wrong},
    ) as endpoint:
        env = {"AWS_ENDPOINT_URL": endpoint}
        # WHEN a file is dropped
        dropped = fanout("drop", str(rows_file(tmp_path, 20)), env=env)
        assert dropped.returncode == 0, dropped.stderr
        job_id = dropped.stdout.split()[0]
        status = wait_until_finished(job_id, env)
        # THEN every row failed, in the DLQ with the reason, which names the secret, not its value
        assert status.split()[:5] == [job_id, "done_with_failures", "20", "0", "20"]
        shown = fanout("dlq", "show", "--job", job_id, env=env)
        assert shown.stdout.count("HTTP 401: the API refused the Authorization header from secret ") == 20
        raw_letters, reports = stack_contents(endpoint)
    log.seek(0)
    assert_nowhere(
        wrong,
        status=status,
        dlq_show=shown.stdout + shown.stderr,
        dead_letters=raw_letters,
        reports_and_results=reports,
        local_up_log=log.read(),
    )


def wait_until_finished(job_id: str, env: dict[str, str]) -> str:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        status = fanout("status", job_id, env=env)
        line = status.stdout.splitlines()[1] if status.returncode == 0 else ""
        if line.split()[1:2] in (["done"], ["done_with_failures"], ["failed"]):
            return line
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} did not finish: {status.stdout}")


def stack_contents(endpoint: str) -> tuple[str, str]:
    """Every message body in every dead-letter queue, and every report and results file, as text."""
    session = boto3.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name=LOCAL_REGION)
    sqs, s3 = session.client("sqs", endpoint_url=endpoint), session.client("s3", endpoint_url=endpoint)
    bodies = []
    for url in sqs.list_queues().get("QueueUrls", []):
        if "DeadLetter" in url:
            for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get(
                "Messages", []
            ):
                bodies.append(m["Body"])
    assert bodies, "no dead letter to search"
    reports = []
    for bucket in s3.list_buckets()["Buckets"]:
        for prefix in ("reports/", "results/"):
            for item in s3.list_objects_v2(Bucket=bucket["Name"], Prefix=prefix).get("Contents", []):
                reports.append(s3.get_object(Bucket=bucket["Name"], Key=item["Key"])["Body"].read().decode())
    assert len(reports) >= 2, "no report and results file to search"
    return "\n".join(bodies), "\n".join(reports)
