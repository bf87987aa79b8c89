"""Progress of a job as one line: rows settled of total, rate, ETA."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from fanout.jobs import Job

BAR_WIDTH = 24
# The last invocation failure's cause, cut to keep the progress line on one terminal line or two.
FAILURE_CHARS = 80


def total_of(job: Job) -> tuple[int | None, bool]:
    """The job's rows total, and whether it is the estimate made while the split reads on."""
    if job.rows_total is not None:
        return job.rows_total, False
    return job.rows_estimate, True


def total_text(job: Job) -> str:
    """The total as shown: `1000`, `~1,000,000` while estimated, `?` before the first estimate."""
    total, estimated = total_of(job)
    if total is None:
        return "?"
    return f"~{total:,}" if estimated else str(total)


def eta_text(job: Job, eta: float | None) -> str:
    if eta is None:
        return "?"
    return ("~" if total_of(job)[1] else "") + f"{eta:.0f}s"


def rate_and_eta(job: Job, elapsed_s: float) -> tuple[float, float | None]:
    done = job.rows_posted + job.rows_failed
    rate = done / elapsed_s if elapsed_s > 0 else 0.0
    total, _ = total_of(job)
    if total is None or rate <= 0:
        return rate, None
    return rate, max(0.0, (total - job.rows_settled) / rate)


def progress_line(job: Job, elapsed_s: float) -> str:
    rate, eta = rate_and_eta(job, elapsed_s)
    total, _ = total_of(job)
    if total:
        filled = int(BAR_WIDTH * min(1.0, job.rows_settled / total))
        bar = "[" + "#" * filled + "." * (BAR_WIDTH - filled) + "]"
    else:
        bar = "[" + "?" * BAR_WIDTH + "]"
    of = f"{job.rows_settled}/{total_text(job)}"
    line = (
        f"{bar} {of} rows  posted {job.rows_posted}  failed {job.rows_failed}  "
        f"rejected {job.rows_rejected}  cancelled {job.rows_cancelled}  {rate:.0f} rows/s  "
        f"ETA {eta_text(job, eta)}  {job.state}"
    )
    return line + invocation_failures(job)


def invocation_failures(job: Job) -> str:
    """Failed invocations (each retried within seconds) and the last cause, when there were any."""
    if not job.invocation_failures:
        return ""
    cause = job.last_invocation_failure[:FAILURE_CHARS]
    return f"  invocations failed {job.invocation_failures} (last: {cause})"


class ProgressPrinter:
    """Redraws one line on a terminal; elsewhere prints a line every few seconds."""

    def __init__(self, out: TextIO = sys.stderr, every_s: float = 5.0) -> None:
        self._out = out
        self._tty = out.isatty()
        self._every_s = every_s
        self._last = 0.0

    def show(self, job: Job, elapsed_s: float, final: bool = False) -> None:
        line = progress_line(job, elapsed_s)
        if self._tty:
            self._out.write("\r\033[K" + line + ("\n" if final else ""))
            self._out.flush()
        elif final or time.monotonic() - self._last >= self._every_s:
            self._out.write(line + "\n")
            self._out.flush()
            self._last = time.monotonic()
