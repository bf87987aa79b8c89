"""`fanout status JOB` and the report name the request spec a job pinned, read from the job record
the splitter wrote on the emulator."""

from __future__ import annotations

import argparse

import boto3
import pytest

from fanout.reports import report_for
from infra.cli import status
from infra.local.emulator import Emulator
from infra.local.stack import LocalStack
from tests.functional.helpers import drop, jobs, split


def status_of(emulator: Emulator, job_id: str, capsys: pytest.CaptureFixture[str]) -> list[str]:
    args = argparse.Namespace(stack=None, region=None, endpoint_url=emulator.endpoint_url, job=job_id)
    assert status.execute(args) == 0
    return capsys.readouterr().out.splitlines()


def test_status_and_report_name_the_spec_version_a_job_pinned_or_the_default_request(
    emulator: Emulator, session: boto3.Session, stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a spec under requests/, one file that names it and one that names none
    bucket = stack.outputs["DataBucketName"]
    s3 = session.client("s3")
    version = s3.put_object(Bucket=bucket, Key="requests/people.json", Body=b'{"url": "/people/{id}"}')[
        "VersionId"
    ]
    named = drop(session, stack, "incoming/named.csv", b"id\n1\n", {"fanout-request": "people.json"})
    plain = drop(session, stack, "incoming/plain.csv", b"id\n1\n")
    # WHEN the splitter has started their jobs, and the spec object changed after
    split(session, stack, named)
    split(session, stack, plain)
    s3.put_object(Bucket=bucket, Key="requests/people.json", Body=b'{"url": "/other/{id}"}')
    by_key = {job.key: job for job in jobs(session, stack).list()}
    named_job, plain_job = by_key["incoming/named.csv"], by_key["incoming/plain.csv"]
    # THEN status names the object version each job pinned, or the default request
    pinned = f"request: s3://{bucket}/requests/people.json (version {version})"
    assert pinned in status_of(emulator, named_job.job_id, capsys)
    default = "request: the default request (each row's strings POSTed to the API URL)"
    assert default in status_of(emulator, plain_job.job_id, capsys)
    # AND so does the report
    named_report, plain_report = report_for(named_job, 1.0), report_for(plain_job, 1.0)
    assert (named_report["request"], named_report["request_version"]) == (
        f"s3://{bucket}/requests/people.json",
        version,
    )
    assert (plain_report["request"], plain_report["request_version"]) == ("", "")


def test_status_says_when_no_spec_is_read_yet(
    emulator: Emulator, session: boto3.Session, stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    jobs(session, stack).create("customers-1", stack.outputs["DataBucketName"], "incoming/c.csv", "v1")
    lines = status_of(emulator, "customers-1", capsys)
    assert "request: not read yet (the split has not started)" in lines
