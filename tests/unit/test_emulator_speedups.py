"""The emulator's shortcuts change its cost, never its answers."""

from __future__ import annotations

import datetime
import time

from moto import backends
from moto.core import utils
from moto.sqs import models

from infra.emulator_speedups import apply_speedups


def test_sqs_clock_reads_now_as_moto_did_and_converts_given_times_the_long_way() -> None:
    # GIVEN moto's own reading of the clock before the shortcut
    listed_before = sorted(backends.list_of_moto_modules())
    moto_now_ms = utils.unix_time_millis()
    # WHEN the shortcuts are applied
    apply_speedups()
    sqs_unix_time, sqs_unix_time_millis = models.__dict__["unix_time"], models.__dict__["unix_time_millis"]
    # THEN SQS reads "now" in the same unit and epoch
    assert sqs_unix_time is not utils.unix_time
    assert abs(sqs_unix_time_millis() - moto_now_ms) < 1000
    assert abs(sqs_unix_time() - time.time()) < 1
    # AND a given datetime is converted exactly as moto converts it
    given = datetime.datetime(2026, 11, 29, 12, 0, 0, 250000)
    assert sqs_unix_time(given) == utils.unix_time(given)
    assert sqs_unix_time_millis(given) == utils.unix_time_millis(given)
    # AND routing sees the same moto modules, listed once
    assert sorted(backends.list_of_moto_modules()) == listed_before
    assert "sqs" in backends.list_of_moto_modules()
