"""The emulator lists a service's regions as botocore does, from the model moto serves it with."""

from __future__ import annotations

import boto3
import pytest
from moto.core.utils import get_service_model

from infra.local.emulator_speedups import service_regions

SERVICES = ("sqs", "cloudwatch")  # cloudwatch: its endpoint prefix is not its name (monitoring)


@pytest.mark.parametrize("service", [*SERVICES, "no-such-service"])
def test_the_regions_are_botocores_for_every_partition(service: str) -> None:
    session = boto3.Session(region_name="us-east-1")
    expected = [
        region
        for partition in session.get_available_partitions()
        for region in session.get_available_regions(service, partition_name=partition)
    ]
    assert service_regions(session, service, get_service_model) == expected
