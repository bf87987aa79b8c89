"""The local stack's cap on malloc arenas (infra/local/allocator.py), in a process of its own."""

from __future__ import annotations

import subprocess
import sys

import pytest

from infra.local.allocator import can_limit_arenas

# Eight threads each allocating (above pymalloc's 512-byte objects, so from malloc) and holding it
# until all have: without a cap glibc gives each its own arena. malloc_stats() prints one
# "Arena N:" block per arena on stderr.
CHILD = """
import ctypes, sys, threading
from infra.local.allocator import limit_arenas
if sys.argv[1] == "capped":
    assert limit_arenas(2)
together = threading.Barrier(8)
def allocate():
    held = [bytearray(4096) for _ in range(64)]
    together.wait()
    del held
threads = [threading.Thread(target=allocate) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
ctypes.CDLL(None).malloc_stats()
"""


def arenas_used(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, mode], capture_output=True, text=True, timeout=60, check=True
    )
    return sum(1 for line in done.stderr.splitlines() if line.startswith("Arena "))


@pytest.mark.skipif(not can_limit_arenas(), reason="not glibc: no mallopt")
def test_capped_process_uses_at_most_two_arenas() -> None:
    assert arenas_used("default") > 2  # the threads do spread without the cap
    assert 1 <= arenas_used("capped") <= 2
