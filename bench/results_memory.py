"""Combining a job's results in flat memory: the combiner's peak for N rows and for 10 N.

Parts are written as the workers write them (each message's ledger item naming its part), into
the emulator's S3 and DynamoDB; then the real ResultsCombiner merges them into results/<job>.csv
while tracemalloc follows this process's allocations (the objects live in the emulator's
process, as on AWS they live in S3).

    .venv/bin/python -m bench.results_memory [--rows 10000 100000]
    .venv/bin/python -m bench.results_memory --once 1000000   # a million rows: time and peak
"""

from __future__ import annotations

import argparse
import json
import os
import time
import tracemalloc
from typing import Any

import boto3

from fanout.jobs import JobStore
from fanout.results import POSTED, RowRecord
from fanout.results_combine import ResultsCombiner
from infra.local.emulator import Emulator
from infra.local.endpoint import use_endpoint
from infra.local.stack import local_stack
from worker.results_log import PartRows, ResultsLog

ROWS_PER_MESSAGE = 100
# One message a part, as a checkpoint's part often is: N rows make N / 100 parts, and from 6,400
# rows on, more parts than the combiner opens at once (so both sizes merge in passes).
MESSAGES_PER_PART = 1
# Peak at 10 N rows over peak at N: "flat" (issue 16's bound for the whole local stack).
TARGET_GROWTH = 1.3


def write_job(session: boto3.Session, outputs: dict[str, str], job_id: str, rows: int) -> Any:
    """A finished job of `rows` posted rows whose result parts its ledger confirms."""
    bucket = outputs["DataBucketName"]
    jobs = JobStore(session.client("dynamodb"), outputs["JobsTableName"])
    jobs.create(job_id, bucket, f"incoming/{job_id}.csv", "v1")
    jobs.finish_split(job_id, rows, 0)
    log = ResultsLog(session.client("s3"), bucket, "all")
    dynamodb = session.client("dynamodb")
    messages = rows // ROWS_PER_MESSAGE
    for first in range(1, messages + 1, MESSAGES_PER_PART):
        seqs = range(first, min(first + MESSAGES_PER_PART, messages + 1))
        part = log.write(
            job_id,
            [
                PartRows(
                    seq,
                    1,
                    tuple(
                        RowRecord(n, POSTED, 201, 1, 42.0, "", {"id": f"R{n}"})
                        for n in range((seq - 1) * ROWS_PER_MESSAGE + 1, seq * ROWS_PER_MESSAGE + 1)
                    ),
                )
                for seq in seqs
            ],
        )
        requests: Any = [
            {"PutRequest": {"Item": {"message": {"S": f"{job_id}#{seq}"}, "parts": {"SS": [part]}}}}
            for seq in seqs
        ]
        dynamodb.batch_write_item(RequestItems={outputs["LedgerTableName"]: requests})
    return jobs.get(job_id)


def measure(
    session: boto3.Session, outputs: dict[str, str], rows: int, traced: bool = True
) -> dict[str, Any]:
    """The combine of a job of `rows` rows: its time and (`traced`) its peak of allocations."""
    job = write_job(session, outputs, f"memory-{rows}-{'traced' if traced else 'timed'}", rows)
    combiner = ResultsCombiner(
        session.client("s3"), session.client("dynamodb"), outputs["LedgerTableName"], "all"
    )
    if traced:
        tracemalloc.start()
    started, cpu = time.perf_counter(), time.process_time()
    combiner.combine(job)
    seconds, cpu_s = time.perf_counter() - started, time.process_time() - cpu
    run: dict[str, Any] = {"rows": rows, "parts": rows // ROWS_PER_MESSAGE // MESSAGES_PER_PART}
    if traced:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        run["peak_mb"] = round(peak / 1e6, 2)
    # CPU under tracemalloc, which slows allocation-heavy code, is an upper bound of the combine's.
    # Seconds include the emulator's answers (its own process, on the same cores).
    run.update(traced=traced, seconds=round(seconds, 2), cpu_us_per_row=round(1e6 * cpu_s / rows, 1))
    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.results_memory", description=__doc__)
    parser.add_argument("--rows", type=int, nargs=2, default=[10_000, 100_000], metavar=("N", "10N"))
    parser.add_argument(
        "--once",
        type=int,
        metavar="ROWS",
        help="instead: one job of ROWS rows, combined once untraced (its time) and once traced (its peak)",
    )
    args = parser.parse_args(argv)
    with Emulator() as emulator:
        session = use_endpoint(emulator.endpoint_url)
        outputs = local_stack(session, {"ApiUrl": "http://127.0.0.1:9/"}, create=True).outputs
        if args.once:
            once = [measure(session, outputs, args.once, traced) for traced in (False, True)]
            print(json.dumps({"runs": once, "load_average": os.getloadavg()}, indent=2))
            return 0
        runs = [measure(session, outputs, rows) for rows in args.rows]
    growth = runs[1]["peak_mb"] / runs[0]["peak_mb"]
    print(json.dumps({"runs": runs, "peak_growth": round(growth, 3), "target": TARGET_GROWTH}, indent=2))
    return 0 if growth <= TARGET_GROWTH else 1


if __name__ == "__main__":
    raise SystemExit(main())
