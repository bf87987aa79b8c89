"""Peak memory of a whole process tree (Linux /proc): a command and every process it starts.

`fanout run` is a tree: the CLI, the emulator, the workers' environment processes. Two figures:
`peak_sum_bytes`, the largest sum of the tree's resident sets at one sample (what the machine
had to hold at once), and `sum_of_peaks_bytes`, each process's own peak (VmHWM, the kernel's
high-water mark, last seen) added up, an upper bound that a short-lived spike between two
samples cannot escape.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

SAMPLE_EVERY_S = 0.05
_PROC = Path("/proc")


@dataclass(frozen=True)
class TreeMemory:
    peak_sum_bytes: int
    sum_of_peaks_bytes: int
    # Each process's own peak, by its command line's first words.
    peaks_by_process: dict[str, int] = field(default_factory=dict)


def status_kib(text: str, name: str) -> int:
    """A `/proc/<pid>/status` field in KiB (0 when absent, as for a zombie)."""
    for line in text.splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    return 0


def children_of(pid: int) -> list[int]:
    children: list[int] = []
    for task in (_PROC / str(pid) / "task").glob("*"):
        try:
            children.extend(int(c) for c in (task / "children").read_text().split())
        except OSError:
            continue
    return children


def tree_of(root: int) -> list[int]:
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo.extend(children_of(pid))
    return pids


def _label(pid: int) -> str:
    try:
        words = (_PROC / str(pid) / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return str(pid)
    shown = [w.decode(errors="replace") for w in words[1:4] if w]
    return f"{pid} {' '.join(shown)}"


class TreeSampler:
    """Samples the tree under `root` until stopped; `result()` once it has."""

    def __init__(self, root: int) -> None:
        self._root = root
        self._peak_sum = 0
        self._peaks: dict[int, int] = {}
        self._labels: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tree-memory", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> TreeMemory:
        self._stop.set()
        self._thread.join()
        return TreeMemory(
            self._peak_sum * 1024,
            sum(self._peaks.values()) * 1024,
            {self._labels[pid]: kib * 1024 for pid, kib in self._peaks.items()},
        )

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(SAMPLE_EVERY_S)

    def _sample(self) -> None:
        total = 0
        for pid in tree_of(self._root):
            try:
                text = (_PROC / str(pid) / "status").read_text()
            except OSError:
                continue  # it ended while we looked
            total += status_kib(text, "VmRSS")
            high = status_kib(text, "VmHWM")
            if high >= self._peaks.get(pid, 0):
                self._peaks[pid] = high
                # Read again: a child's first command line is its parent's, until it execs.
                self._labels[pid] = _label(pid)
        self._peak_sum = max(self._peak_sum, total)


@dataclass(frozen=True)
class TreeRun:
    returncode: int
    wall_s: float
    memory: TreeMemory
    stdout: str
    stderr: str


def run_tree(command: Sequence[str], timeout_s: float, env: dict[str, str] | None = None) -> TreeRun:
    """Runs `command`, sampling its tree's memory, and the wall time from its start to its exit."""
    started = time.perf_counter()
    process = subprocess.Popen(
        list(command), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    sampler = TreeSampler(process.pid)
    sampler.start()
    try:
        out, err = process.communicate(timeout=timeout_s)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
        wall = time.perf_counter() - started
        memory = sampler.stop()
    return TreeRun(process.returncode, wall, memory, out, err)
