"""The results combine request on the intake queue: told apart from S3's notifications."""

from __future__ import annotations

import json

import pytest

from fanout.errors import PermanentError
from fanout.jobs import ReportClaim
from fanout.results_handoff import combine_request, combine_request_body


def test_a_claim_goes_through_the_queue_unchanged() -> None:
    claim = ReportClaim("job-1", "abc", 1_700_000_000.25, 120, 7)
    assert combine_request(combine_request_body(claim)) == claim


@pytest.mark.parametrize(
    "body",
    [
        json.dumps({"Records": [{"eventName": "ObjectCreated:Put"}]}),
        json.dumps({"Event": "s3:TestEvent"}),
        "not json",
        "[1, 2]",
    ],
)
def test_any_other_intake_message_is_not_a_combine_request(body: str) -> None:
    assert combine_request(body) is None


def test_a_combine_request_missing_a_field_is_refused_with_the_field() -> None:
    with pytest.raises(PermanentError, match="token"):
        combine_request(json.dumps({"fanout_combine_results": {"job_id": "job-1"}}))
