"""Where this process's AWS clients point: the standard AWS_ENDPOINT_URL, and the emulator's settings."""

from __future__ import annotations

import os
from collections.abc import Iterable

import boto3
import botocore.session
from botocore.config import Config

from infra.local.stack import LOCAL_REGION

# Credentials for the emulator: it accepts any, and real ones must never reach it.
EMULATOR_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "fanout-local",
    "AWS_SECRET_ACCESS_KEY": "fanout-local",
}
# The emulator answers in milliseconds (its longest call is a 1 s poll): a call that hangs on a
# busy machine is tried again after seconds, not after botocore's default 60 s read timeout.
EMULATOR_CLIENT_CONFIG = Config(
    connect_timeout=5, read_timeout=20, retries={"max_attempts": 5, "mode": "standard"}
)


def use_endpoint(endpoint_url: str) -> boto3.Session:
    """Points every AWS client this process makes at `endpoint_url` (the standard variable)."""
    os.environ["AWS_ENDPOINT_URL"] = endpoint_url
    os.environ.setdefault("AWS_DEFAULT_REGION", LOCAL_REGION)
    core = botocore.session.Session()
    if endpoint_is_loopback(endpoint_url):
        os.environ.update(EMULATOR_CREDENTIALS)
        core.set_default_client_config(EMULATOR_CLIENT_CONFIG)
    return boto3.Session(region_name=os.environ["AWS_DEFAULT_REGION"], botocore_session=core)


def load_client_models(session: boto3.Session, services: Iterable[str]) -> None:
    """Loads the services' models into the session, so its clients of them build in milliseconds.

    The first client of a service costs 20-90 ms here (its model's JSON parsed); a run builds
    them while the emulator boots instead of after.
    """
    for service in services:
        session.client(service)  # type: ignore[call-overload]


def endpoint_is_loopback(endpoint_url: str) -> bool:
    return any(host in endpoint_url for host in ("://127.", "://localhost", "://[::1]"))
