"""A finished job's report: written to reports/<job>.json in the bucket and announced as an event.

Whoever sees a job finish (the worker whose ledger transaction settles its last row, or the
splitter when nothing was left to post) calls `JobReporter.report_if_finished`; a conditional
claim on the job record lets exactly one of them report it. That one also combines the job's
results file (results/<job>.csv), which the report names.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from fanout.errors import RetryableError
from fanout.jobs import CANCELLED, HALTED, Job, JobStore
from fanout.results_combine import ResultsCombiner

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
    ) -> None:
        """`results`: combines the job's results file before the report names it (None: none)."""
        self._jobs = jobs
        self._s3 = s3
        self._events = events
        self._results = results

    def report_if_finished(self, job_id: str, job: Job | None = None) -> dict[str, Any] | None:
        """The report, if this call found the job finished and was the one to report it.

        `job`: the job as just read, if the caller has it (saves reading it again).
        """
        job = job or self._jobs.get(job_id)
        if job is None or not job.is_finished:
            return None
        finished = self._jobs.claim_report(job_id, job.rows_posted, job.result_parts)
        if finished is None:
            return None
        try:
            results = self._results.combine(job) if self._results is not None else None
            uri = f"s3://{job.bucket}/{results}" if results else ""
            report = report_for(job, finished - job.started, uri)
            self._publish(job, report)
            if results:
                self._jobs.mark_results(job_id, results)
        except Exception:
            self._jobs.release_report(job_id)
            raise
        log.info("job finished: %s", job.state, extra={"job_id": job_id})
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
