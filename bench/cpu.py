"""CPU time of this process's threads, grouped by what they run (Linux /proc).

The workers, the splitter and the baseline run in the benchmark's own process (the emulator and
the API are child processes), so reading each thread's CPU time tells their shares apart. A
thread that ends between two samples loses only what it used since the last one.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

SAMPLE_EVERY_S = 0.2
TICKS_PER_S = os.sysconf("SC_CLK_TCK")

# Which part of the run a thread belongs to, from its name (see infra/event_source.py and
# worker/core.py for the names the local runtime gives its threads).
GROUPS: tuple[tuple[str, str], ...] = (
    ("WorkerFunction", "worker"),
    ("post", "worker"),
    ("SplitterFunction", "splitter"),
    ("baseline", "baseline"),
)


def group_of(thread_name: str) -> str:
    for prefix, group in GROUPS:
        if thread_name.startswith(prefix):
            return group
    return "other"


def parse_stat(text: str) -> tuple[int, int]:
    """(start time, user + system ticks) from a /proc/<pid>/task/<tid>/stat line."""
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    fields = text[text.rindex(")") + 2 :].split()
    utime, stime, starttime = int(fields[11]), int(fields[12]), int(fields[19])
    return starttime, utime + stime


def _read_tasks(task_dir: Path) -> dict[tuple[int, int], int]:
    ticks: dict[tuple[int, int], int] = {}
    for entry in task_dir.iterdir():
        try:
            start, used = parse_stat((entry / "stat").read_text())
        except (OSError, ValueError):
            continue  # the thread ended while we looked
        ticks[(int(entry.name), start)] = used
    return ticks


class ThreadCpu:
    """Samples while open; `seconds()` is the CPU each group used between enter and exit."""

    def __init__(self, names: Callable[[], dict[int, str]] | None = None) -> None:
        self._task_dir = Path(f"/proc/{os.getpid()}/task")
        self._names = names or _thread_names
        self._first: dict[tuple[int, int], int] = {}
        self._last: dict[tuple[int, int], int] = {}
        self._groups: dict[tuple[int, int], str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-cpu-sampler", daemon=True)

    def __enter__(self) -> ThreadCpu:
        self._first = _read_tasks(self._task_dir)
        self._sample()
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY_S):
            self._sample()

    def _sample(self) -> None:
        names = self._names()
        for key, used in _read_tasks(self._task_dir).items():
            self._last[key] = max(used, self._last.get(key, 0))
            if key[0] in names:
                self._groups[key] = group_of(names[key[0]])

    def seconds(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for key, used in self._last.items():
            group = self._groups.get(key, "other")
            delta = used - self._first.get(key, 0)
            totals[group] = totals.get(group, 0.0) + delta / TICKS_PER_S
        return totals


def _thread_names() -> dict[int, str]:
    return {t.native_id: t.name for t in threading.enumerate() if t.native_id is not None}


def children_cpu_s() -> float:
    """CPU of the child processes this process has waited for (the emulator, the API)."""
    times = os.times()
    return times.children_user + times.children_system
