"""`fanout run` starts no more worker processes than its file has work messages for."""

from __future__ import annotations

from pathlib import Path

from infra.cli.run_job import SMALL_FILE_BYTES, processes_for

PARAMETERS = {"RowsPerMessage": "100"}


def test_a_one_row_file_runs_its_workers_in_one_process(tmp_path: Path) -> None:
    one = tmp_path / "one.csv"
    one.write_text("id,name\n1,alice\n")
    assert processes_for(one, PARAMETERS, most=4) == 1


def test_a_small_file_gets_a_process_per_work_message_up_to_one_per_cpu(tmp_path: Path) -> None:
    rows = tmp_path / "rows.csv"
    rows.write_text("id\n" + "".join(f"{n}\n" for n in range(250)))  # 252 lines: at most 3 messages
    assert processes_for(rows, PARAMETERS, most=8) == 3
    assert processes_for(rows, PARAMETERS, most=2) == 2


def test_a_big_or_compressed_file_keeps_every_cpu(tmp_path: Path) -> None:
    big = tmp_path / "big.csv"
    big.write_bytes(b"id\n" + b"1\n" * (SMALL_FILE_BYTES // 2 + 1))
    assert processes_for(big, PARAMETERS, most=2) == 2
    packed = tmp_path / "one.csv.gz"
    packed.write_bytes(b"\x1f\x8b")
    assert processes_for(packed, PARAMETERS, most=2) == 2
