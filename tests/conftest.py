"""Shared fixtures: one emulator process for the session, fresh resources for each test."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator

import boto3
import pytest

from infra.demo.api import DemoApi
from infra.local.emulator import Emulator
from infra.local.endpoint import use_endpoint
from infra.local.stack import LocalStack, local_stack


@pytest.fixture(scope="session")
def emulator() -> Iterator[Emulator]:
    with Emulator() as running:
        yield running


@pytest.fixture
def session(emulator: Emulator) -> boto3.Session:
    # moto's reset endpoint empties every service, so each test starts from nothing.
    request = urllib.request.Request(f"{emulator.endpoint_url}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=10).close()
    return use_endpoint(emulator.endpoint_url)


@pytest.fixture
def api() -> Iterator[DemoApi]:
    with DemoApi(latency_s=(0.0, 0.0), keep_payloads=True) as running:
        yield running


@pytest.fixture
def stack(session: boto3.Session, api: DemoApi) -> LocalStack:
    return local_stack(session, {"ApiUrl": api.url, "MaxReceiveCount": "2"}, create=True)
