"""Credentials end to end: `fanout run` / `local up` with `--secret`, against loopback APIs that
check them as the real services do; the secret's value in no output, log line, dead letter or
report."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.credentials import Credentials

from infra.demo.api import DemoApi
from infra.local.endpoint import EMULATOR_CREDENTIALS
from infra.local.stack import LOCAL_ACCOUNT, LOCAL_REGION, LOCAL_STACK_NAME
from tests.auth_apis import ApiKeyCheck, SigV4Check, TokenEndpoint
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


def write_spec(tmp_path: Path, auth: str) -> Path:
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"method: PUT\nurl: /customers/{{id}}\nquery: {{source: fanout}}\nauth: {auth}\n")
    return spec


def run_with_spec(
    tmp_path: Path, api: DemoApi, spec: Path, *flags: str, rows: int = ROWS, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    report = tmp_path / "report.json"
    result = fanout(
        "run",
        str(rows_file(tmp_path, rows)),
        "--api-url",
        api.url,
        "--request",
        str(spec),
        "--report",
        str(report),
        *flags,
        env=env,
    )
    return result, json.loads(report.read_text()) if report.exists() else {}


def test_sigv4_signed_calls_verify_with_the_local_stack_s_credentials(tmp_path: Path, api: DemoApi) -> None:
    # GIVEN an API that recomputes every call's SigV4 signature, as API Gateway's IAM auth does
    check = api.decide = SigV4Check(
        Credentials(EMULATOR_CREDENTIALS["AWS_ACCESS_KEY_ID"], EMULATOR_CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
    )
    spec = write_spec(tmp_path, "{type: sigv4, service: execute-api, region: us-east-1}")
    # WHEN a file runs with a spec whose PUTs (with a path per row and a query) are signed
    result, report = run_with_spec(tmp_path, api, spec, "--concurrency", "4")
    # THEN every row was posted, and every call verified
    assert result.returncode == 0, result.stderr
    assert report["rows_posted"] == ROWS
    assert check.refusals == [] and check.accepted == ROWS


def test_an_api_key_named_by_the_spec_reaches_every_row_and_shows_nowhere(
    tmp_path: Path, api: DemoApi
) -> None:
    key = "e2e-api-key-5d0c2e"
    check = api.decide = ApiKeyCheck("x-api-key", key)
    spec = write_spec(tmp_path, "{type: header, name: x-api-key, secret: api-key}")
    result, report = run_with_spec(tmp_path, api, spec, "--secret", f"api-key=@{secret_file(tmp_path, key)}")
    assert result.returncode == 0, result.stderr
    assert report["rows_posted"] == ROWS and check.refusals == [] and check.accepted == ROWS
    assert_nowhere(key, stdout=result.stdout, stderr=result.stderr, report=json.dumps(report))


def test_oauth2_tokens_that_expire_in_seconds_are_renewed_and_no_call_is_refused(tmp_path: Path) -> None:
    # GIVEN a token endpoint whose tokens last two seconds, and an API that takes only live ones
    client_secret = "e2e-client-secret-91ab"
    with (
        TokenEndpoint("fanout-e2e", client_secret, lifetime_s=2.0, scope="rows:write") as endpoint,
        DemoApi(latency_s=(0.01, 0.02), decide=endpoint) as api,
    ):
        spec = write_spec(
            tmp_path,
            f'{{type: oauth2, token_url: "{endpoint.url}", scope: "rows:write", client_id: fanout-e2e, '
            "client_secret: oauth-client}",
        )
        # WHEN a run outlives several tokens (four calls in flight, 10-20 ms each)
        result, report = run_with_spec(
            tmp_path,
            api,
            spec,
            "--secret",
            "oauth-client=env:FANOUT_E2E_CLIENT_SECRET",
            "--concurrency",
            "2",
            "--threads",
            "2",
            rows=400,
            env={"FANOUT_E2E_CLIENT_SECRET": client_secret},
        )
    # THEN every row was posted on tokens renewed as they expired, and no call was refused
    assert result.returncode == 0, result.stderr
    assert report["rows_posted"] == 400
    assert report["duration_s"] > 2 * endpoint.lifetime_s
    assert endpoint.issued >= 3
    assert endpoint.check.refusals == []
    assert_nowhere(client_secret, stdout=result.stdout, stderr=result.stderr, report=json.dumps(report))


def test_a_wrong_client_secret_fails_every_row_at_once_and_shows_nowhere(
    tmp_path: Path, api: DemoApi
) -> None:
    wrong = "e2e-wrong-client-secret-3f"
    results = tmp_path / "results.csv"
    with TokenEndpoint("fanout-e2e", "the-right-one", lifetime_s=60) as endpoint:
        api.decide = endpoint
        spec = write_spec(
            tmp_path,
            f'{{type: oauth2, token_url: "{endpoint.url}", client_id: fanout-e2e, client_secret: oauth}}',
        )
        result, report = run_with_spec(
            tmp_path,
            api,
            spec,
            "--secret",
            f"oauth=@{secret_file(tmp_path, wrong)}",
            "--results",
            str(results),
            rows=40,
        )
    assert result.returncode == 1, result.stderr
    assert (report["rows_posted"], report["rows_failed"]) == (0, 40)
    assert api.attempts == {}  # no call went out without a token
    failed = results.read_text()
    assert failed.count("invalid_client") == 40
    assert_nowhere(
        wrong, stdout=result.stdout, stderr=result.stderr, report=json.dumps(report), results=failed
    )


def test_a_spec_naming_a_secret_not_given_is_refused_before_anything(tmp_path: Path, api: DemoApi) -> None:
    spec = write_spec(tmp_path, "{type: header, name: x-api-key, secret: api-key}")
    source = rows_file(tmp_path, 3)
    missing = fanout("run", str(source), "--api-url", api.url, "--request", str(spec))
    assert missing.returncode == 2 and api.attempts == {}
    assert missing.stderr.strip().endswith(
        "auth names secret api-key: give it with --secret api-key=@FILE (or api-key=env:VAR)"
    )
