"""What an invocation knows of its jobs' control: cancelled, halted, or over their failure threshold.

Read once when the invocation starts and again after each flush (about once a second while
it posts, and after every few rows that fail), so a cancel stops its rows within a flush
and a job that fails too much halts after about its threshold's minimum rows. Posting threads
only look at what was last read: no call per row.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from fanout.jobs import HALTED, Job, JobStore
from fanout.reports import JobReporter

log = logging.getLogger("fanout.worker")


class JobWatch:
    def __init__(self, jobs: JobStore, reporter: JobReporter, concurrency: int) -> None:
        """`concurrency`: invocations that may post for the same job at once (the mapping's maximum)."""
        self._jobs = jobs
        self._reporter = reporter
        self._concurrency = max(1, concurrency)
        self._seen: dict[str, Job] = {}
        self._stopped: set[str] = set()
        self._lock = threading.Lock()
        self.halted = 0  # jobs this invocation halted, for its metrics

    def load(self, job_ids: Iterable[str]) -> None:
        for job_id in sorted(set(job_ids)):
            self._look(job_id, self._jobs.get(job_id))

    def refresh(self, everyone: bool = False) -> dict[str, Job]:
        """Reads the invocation's running jobs (`everyone`: all its jobs) again, judging their
        failure threshold; the jobs as read."""
        with self._lock:
            chosen = [job_id for job_id in self._seen if everyone or job_id not in self._stopped]
        read = {}
        for job_id in chosen:
            job = self._look(job_id, self._jobs.get(job_id))
            if job is not None:
                read[job_id] = job
        return read

    def stopped(self, job_id: str) -> bool:
        return job_id in self._stopped

    def mark_running(self, job_ids: Iterable[str]) -> None:
        """The jobs were resumed after we read them stopped."""
        with self._lock:
            self._stopped.difference_update(job_ids)

    def failures_per_flush(self, job_id: str) -> int:
        """Rows failing that make a flush due before its interval: this invocation's share of
        the threshold's minimum, so the fleet together halts a job near that minimum."""
        job = self._seen.get(job_id)
        if job is None or job.threshold is None:
            return 0
        return max(1, job.threshold.min_rows // (2 * self._concurrency))

    def _look(self, job_id: str, job: Job | None) -> Job | None:
        if job is None:
            return None
        if not job.stopped and job.threshold is not None:
            reason = job.threshold.breach(job.rows_posted - job.threshold_base_posted, job.rows_failing)
            if reason is not None:
                self._halt(job, reason)
                job = self._jobs.get(job_id) or job
        with self._lock:
            self._seen[job_id] = job
            if job.stopped:
                self._stopped.add(job_id)
        return job

    def _halt(self, job: Job, reason: str) -> None:
        if not self._jobs.stop(job.job_id, HALTED, reason):
            return  # stopped meanwhile, by another invocation or a cancel
        self.halted += 1
        log.warning("job halted: %s", reason, extra={"job_id": job.job_id})
        self._reporter.announce_stop(job, HALTED, reason)
