"""fanout resume JOB: continue a cancelled or halted job (`fanout resume` alone is the mapping's)."""

from __future__ import annotations

import argparse

from infra.ops.job_control import resume
from infra.ops.stack_ref import connect


def resume_job(args: argparse.Namespace) -> int:
    resumed = resume(connect(args), args.job)
    split = "; the split goes on from its checkpoint" if resumed.split_restarted else ""
    print(
        f"job {args.job} resumed: {resumed.held_rows} held rows and {resumed.failed_rows} failed rows "
        f"back in the work queue{split} (`fanout status {args.job}` shows progress)"
    )
    return 0
