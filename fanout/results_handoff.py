"""Combining a finished job's results is handed to the splitter function, by a message on its queue.

Whoever claims a job's report (a worker, the splitter, `fanout dlq` counting moved rows) may have
little time left: a worker lives at most 120 s, and a million rows' combine takes longer than
that. The splitter function may run 900 s (template.yaml) and takes one intake message per
invocation, so the combine gets an invocation of its own. A combine that fails or is killed is
redone when SQS delivers the message again; the message carries the claim, so a combine whose
claim was meanwhile taken again (stale) does nothing, and the newer claim's message does the work.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from fanout.errors import PermanentError
from fanout.jobs import ReportClaim
from fanout.results import MODE_NONE, check_mode

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

# The intake queue's other messages are S3 notifications: they have no such key.
MESSAGE_KEY = "fanout_combine_results"


def combine_request_body(claim: ReportClaim) -> str:
    return json.dumps({MESSAGE_KEY: asdict(claim)})


def combine_request(body: str) -> ReportClaim | None:
    """The claim an intake message asks to combine and report; None for any other message."""
    try:
        parsed: Any = json.loads(body)
    except ValueError:
        return None
    if not isinstance(parsed, dict) or MESSAGE_KEY not in parsed:
        return None
    fields = parsed[MESSAGE_KEY]
    try:
        return ReportClaim(
            job_id=str(fields["job_id"]),
            token=str(fields["token"]),
            finished=float(fields["finished"]),
            rows_posted=int(fields["rows_posted"]),
            result_parts=int(fields["result_parts"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise PermanentError(f"a results combine request without a valid {exc}: {body[:200]}") from None


class ResultsHandoff:
    """Sends a claimed job's results combine to the splitter's queue."""

    def __init__(self, sqs: SQSClient, intake_queue_url: str) -> None:
        self._sqs = sqs
        self._url = intake_queue_url

    def send(self, claim: ReportClaim) -> None:
        self._sqs.send_message(QueueUrl=self._url, MessageBody=combine_request_body(claim))


def results_handoff(sqs: SQSClient, intake_queue_url: str, mode: str) -> ResultsHandoff | None:
    """None when the stack writes no results (ResultsMode none): a report then needs no combine."""
    return None if check_mode(mode) == MODE_NONE else ResultsHandoff(sqs, intake_queue_url)
