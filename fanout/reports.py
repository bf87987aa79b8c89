"""A finished job's report: written to reports/<job>.json in the bucket and announced as an event.

Whoever sees a job finish (the worker whose ledger transaction settles its last row, or the
splitter when nothing was left to post) calls `JobReporter.report_if_finished`; a conditional
claim on the job record lets exactly one of them report it. When the stack writes results, that
one hands the combine of the results file (results/<job>.csv, which the report names) to a
splitter invocation of its own (fanout/results_handoff.py), which writes the report after it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fanout.errors import ConfigError, RetryableError
from fanout.jobs import CANCELLED, HALTED, Job, JobStore, ReportClaim
from fanout.limits import LAMBDA_MAX_TIMEOUT_S
from fanout.results_combine import ResultsCombiner
from fanout.results_handoff import ResultsHandoff

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_s3 import S3Client

log = logging.getLogger("fanout.reports")

REPORTS_PREFIX = "reports/"
# The event on the account's default bus: match it with {"source": ["fanout"]}.
EVENT_SOURCE = "fanout"
EVENT_DETAIL_TYPE = "Fanout job finished"
# A job stopped before its rows were all posted: by `fanout cancel`, or by its failure threshold.
STOP_DETAIL_TYPES = {CANCELLED: "Fanout job cancelled", HALTED: "Fanout job halted"}
# A combine holds the report claim this long past its invocation's end: clocks of two hosts
# may differ by a little, and no other combine of the job may start while it can still write.
REPORT_HOLD_MARGIN_S = 60.0


def report_for(job: Job, duration_s: float, results: str = "") -> dict[str, Any]:
    """`results`: where the job's results file is (empty: the stack writes none)."""
    rows_total = job.rows_total or 0
    return {
        "job_id": job.job_id,
        "state": job.state,
        "source": f"s3://{job.bucket}/{job.key}",
        "rows_total": rows_total,
        "rows_posted": job.rows_posted,
        "rows_failed": job.rows_failed,
        "rows_rejected": job.rows_rejected,
        "rows_cancelled": job.rows_cancelled if job.stopped else 0,
        "duration_s": round(duration_s, 3),
        "rows_per_s": round(job.rows_posted / duration_s, 1) if duration_s > 0 else 0.0,
        "calls_throttled": job.calls_throttled,
        "error": job.error,
        "results": results,
        "reason": job.control_reason,  # why a cancelled or halted job stopped
        # The request spec the job pinned (empty: the default request).
        "request": f"s3://{job.request.bucket}/{job.request.key}" if job.request else "",
        "request_version": job.request.version if job.request else "",
    }


def report_key(job_id: str) -> str:
    return f"{REPORTS_PREFIX}{job_id}.json"


class JobReporter:
    def __init__(
        self,
        jobs: JobStore,
        s3: S3Client,
        events: EventBridgeClient,
        results: ResultsCombiner | None = None,
        handoff: ResultsHandoff | None = None,
    ) -> None:
        """`handoff`: where a claimed job's results combine goes (None: the stack writes no
        results, the report is written at once); `results`: the combiner, where combines run."""
        self._jobs = jobs
        self._s3 = s3
        self._events = events
        self._results = results
        self._handoff = handoff

    def report_if_finished(self, job_id: str, job: Job | None = None) -> dict[str, Any] | None:
        """The report, if this call found the job finished, claimed it and wrote it at once
        (None too when it handed the results combine over: the report follows it).

        `job`: the job as just read, if the caller has it (saves reading it again).
        """
        job = job or self._jobs.get(job_id)
        if job is None or not job.is_finished:
            return None
        claim = self._jobs.claim_report(job_id, job.rows_posted, job.result_parts)
        if claim is None:
            return None
        if self._handoff is not None:
            try:
                self._handoff.send(claim)
            except Exception:
                self._jobs.release_report(claim)
                raise
            log.info("job finished: %s; results combine handed over", job.state, extra={"job_id": job_id})
            return None
        try:
            report = self._write(job, claim, results=None)
        except Exception:
            self._jobs.release_report(claim)
            raise
        return report

    def combine_and_report(self, claim: ReportClaim, time_left: Callable[[], float]) -> dict[str, Any] | None:
        """Combines the claimed job's results and writes its report; None if the claim is no
        longer held (reported already, or claimed again: that claim's message does it).

        A failure leaves the claim held by this request, so the message's next delivery redoes
        it. The claim is held for as long as this invocation may live, so no other combine of
        the job can start meanwhile; a change it might have missed (a redrive settling while it
        ran) claims the job again once it is done, so the newest results are always written last.
        """
        if self._results is None:
            raise ConfigError("this reporter has no results combiner: it cannot combine handed-over results")
        until = time.time() + min(time_left(), LAMBDA_MAX_TIMEOUT_S) + REPORT_HOLD_MARGIN_S
        if not self._jobs.hold_report(claim, until):
            log.info("no combine: the report was written or claimed again", extra={"job_id": claim.job_id})
            return None
        job = self._jobs.get(claim.job_id)
        if job is None:
            return None
        report = self._write(job, claim, self._results.combine(job))
        latest = self._jobs.get(claim.job_id)
        if latest is not None and (
            latest.rows_posted > claim.rows_posted or latest.result_parts > claim.result_parts
        ):
            self.report_if_finished(claim.job_id, latest)
        return report

    def _write(self, job: Job, claim: ReportClaim, results: str | None) -> dict[str, Any]:
        uri = f"s3://{job.bucket}/{results}" if results else ""
        report = report_for(job, claim.finished - job.started, uri)
        self._publish(job, report)
        if not self._jobs.finish_report(claim, results):
            # Only a claim gone stale under its holder gets here (held past the invocation's end).
            log.warning("report written after its claim was taken again", extra={"job_id": job.job_id})
        log.info("job finished: %s", job.state, extra={"job_id": job.job_id})
        return report

    def announce_stop(self, job: Job, control: str, reason: str) -> None:
        """The event that a job was cancelled or halted (its rows stop; the finished event follows
        once every row is accounted for)."""
        detail = {
            "job_id": job.job_id,
            "state": control,
            "reason": reason,
            "source": f"s3://{job.bucket}/{job.key}",
        }
        self._put_event(STOP_DETAIL_TYPES[control], detail, job.job_id)

    def _put_event(self, detail_type: str, detail: dict[str, Any], job_id: str) -> None:
        response = self._events.put_events(
            Entries=[{"Source": EVENT_SOURCE, "DetailType": detail_type, "Detail": json.dumps(detail)}]
        )
        if response.get("FailedEntryCount"):
            raise RetryableError(
                f"job {job_id}: the {detail_type!r} event was not accepted: {response['Entries']}"
            )

    def _publish(self, job: Job, report: dict[str, Any]) -> None:
        body = json.dumps(report, indent=2).encode("utf-8")
        self._s3.put_object(
            Bucket=job.bucket, Key=report_key(job.job_id), Body=body, ContentType="application/json"
        )
        detail = {**report, "report": f"s3://{job.bucket}/{report_key(job.job_id)}"}
        self._put_event(EVENT_DETAIL_TYPE, detail, job.job_id)
