"""Splitter peak memory against file size: a 1 GB file must split in the memory a 1 MB one does.

Each size runs in its own process (so peak RSS is that split's alone): the file is uploaded to
the emulator's S3 (it lives in the emulator's process, as on AWS it lives in S3), the real
Splitter streams it and sends its rows to the work queue, and a drain thread deletes what it
sends so the queue stays shallow. Reported: rows, seconds, MB/s and the splitter process's peak
RSS, as a ratio to the smallest file's.

    .venv/bin/python -m bench.split_memory [--sizes-mb 1 100 1024]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROW_TEMPLATE = '{n},customer{n}@example.com,"Name {n}, Jr.","note with ""quotes"" and a\nnewline",{amount}\n'


def write_csv(path: Path, size_mb: float) -> int:
    """A file of about `size_mb` MB written in blocks; returns its rows."""
    target = int(size_mb * 1_000_000)
    rows = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write("id,email,name,note,amount\n")
        written = 0
        while written < target:
            block = "".join(
                ROW_TEMPLATE.format(n=rows + i + 1, amount=(rows + i) % 997) for i in range(10_000)
            )
            handle.write(block)
            written += len(block)
            rows += 10_000
    return rows


def _drain(session: Any, queue_url: str, stop: threading.Event) -> None:
    sqs = session.client("sqs")
    while not stop.is_set():
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        )
        if messages:
            sqs.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
            )


def child(size_mb: float) -> dict[str, Any]:
    from fanout.s3events import ObjectRef
    from infra.local.emulator import Emulator
    from infra.local.endpoint import use_endpoint
    from infra.local.stack import local_stack
    from splitter.handler import build

    with tempfile.TemporaryDirectory() as tmp, Emulator() as emulator:
        source = Path(tmp) / "big.csv"
        rows = write_csv(source, size_mb)
        session = use_endpoint(emulator.endpoint_url)
        stack = local_stack(
            session, {"ApiUrl": "http://127.0.0.1:9/unused", "RowsPerMessage": "1000"}, create=True
        )
        bucket = stack.outputs["DataBucketName"]
        session.client("s3").upload_file(str(source), bucket, "incoming/big.csv")
        baseline_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        stop = threading.Event()
        drain = threading.Thread(
            target=_drain, args=(session, stack.outputs["WorkQueueUrl"], stop), daemon=True
        )
        drain.start()
        splitter = build(stack.functions["SplitterFunction"].environment, session=session)._splitter
        started = time.perf_counter()
        result = splitter.split(ObjectRef(bucket, "incoming/big.csv", None, ""))
        seconds = time.perf_counter() - started
        stop.set()
        drain.join()
        assert result.rows_total == rows and not result.error, result
        return {
            "size_mb": round(source.stat().st_size / 1e6, 1),
            "rows": rows,
            "seconds": round(seconds, 2),
            "mb_per_s": round(source.stat().st_size / 1e6 / seconds, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "rss_before_split_mb": round(baseline_rss / 1024, 1),
        }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes-mb", type=float, nargs="+", default=[1, 100, 1024])
    parser.add_argument("--child", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=Path("bench/results/split_memory.json"))
    args = parser.parse_args(argv)
    if args.child is not None:
        print(json.dumps(child(args.child)))
        return
    results = []
    for size in args.sizes_mb:
        done = subprocess.run(
            [sys.executable, "-m", "bench.split_memory", "--child", str(size)],
            capture_output=True,
            text=True,
            check=True,
        )
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    smallest = results[0]["peak_rss_mb"]
    print(f"{'file MB':>8} {'rows':>10} {'seconds':>8} {'MB/s':>6} {'peak RSS MB':>12} {'x smallest':>10}")
    for r in results:
        r["rss_ratio_to_smallest"] = round(r["peak_rss_mb"] / smallest, 3)
        print(
            f"{r['size_mb']:>8} {r['rows']:>10} {r['seconds']:>8} {r['mb_per_s']:>6} "
            f"{r['peak_rss_mb']:>12} {r['rss_ratio_to_smallest']:>10}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    machine = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "system": platform.platform(),
    }
    args.out.write_text(json.dumps({"machine": machine, "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
