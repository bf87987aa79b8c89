"""CPU time of this process's threads and of its child processes, grouped by what they run (Linux /proc).

The splitter and the baseline run in the benchmark's own process, so reading each thread's CPU
time tells their shares apart. The workers' execution environments run in child processes
(infra/local/environment_processes.py) next to the emulator's: those are told apart by command line.
A thread or process that ends between two samples loses only what it used since the last one.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Self

SAMPLE_EVERY_S = 0.2
TICKS_PER_S = os.sysconf("SC_CLK_TCK")

# Which part of the run a thread belongs to, from its name (see infra/local/event_source.py and
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


class _Sampler:
    """Takes a first reading on enter, samples every SAMPLE_EVERY_S until exit, and once more then."""

    def __init__(self, name: str) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def __enter__(self) -> Self:
        self._begin()
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

    def _begin(self) -> None:
        raise NotImplementedError

    def _sample(self) -> None:
        raise NotImplementedError


class ThreadCpu(_Sampler):
    """Samples while open; `seconds()` is the CPU each group used between enter and exit."""

    def __init__(self, names: Callable[[], dict[int, str]] | None = None) -> None:
        super().__init__("bench-cpu-sampler")
        self._task_dir = Path(f"/proc/{os.getpid()}/task")
        self._names = names or _thread_names
        self._first: dict[tuple[int, int], int] = {}
        self._last: dict[tuple[int, int], int] = {}
        self._groups: dict[tuple[int, int], str] = {}

    def _begin(self) -> None:
        self._first = _read_tasks(self._task_dir)

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


# Which part of the run a child process belongs to, from its command line.
PROCESS_GROUPS: tuple[tuple[str, str], ...] = (
    ("infra.local.emulator", "emulator"),
    ("multiprocessing.spawn", "worker"),
)


def process_group_of(command_line: str) -> str:
    for marker, group in PROCESS_GROUPS:
        if marker in command_line:
            return group
    return "other"


def _descendants(root: int) -> dict[tuple[int, int], tuple[int, str]]:
    """(pid, start time) -> (user + system ticks, command line) of every process under `root`."""
    found: dict[int, tuple[int, int, int, str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            start, used = parse_stat(text)
        except (OSError, ValueError):
            continue  # the process ended while we looked
        parent = int(text[text.rindex(")") + 2 :].split()[1])
        found[int(entry.name)] = (parent, start, used, command)
    under = {root}
    changed = True
    while changed:
        added = {pid for pid, (parent, *_) in found.items() if parent in under and pid not in under}
        under |= added
        changed = bool(added)
    return {(pid, found[pid][1]): (found[pid][2], found[pid][3]) for pid in under - {root} if pid in found}


class ProcessCpu(_Sampler):
    """Samples this process's descendants while open; `seconds()` is their CPU by group."""

    def __init__(self) -> None:
        super().__init__("bench-process-sampler")
        self._root = os.getpid()
        self._first: dict[tuple[int, int], int] = {}
        self._last: dict[tuple[int, int], tuple[int, str]] = {}

    def _begin(self) -> None:
        self._first = {key: used for key, (used, _) in _descendants(self._root).items()}

    def _sample(self) -> None:
        for key, (used, command) in _descendants(self._root).items():
            # A process on its way out has an empty command line: keep the one it had.
            known = self._last.get(key, (0, ""))[1]
            self._last[key] = (used, command or known)

    def seconds(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for key, (used, command) in self._last.items():
            group = process_group_of(command)
            totals[group] = totals.get(group, 0.0) + (used - self._first.get(key, 0)) / TICKS_PER_S
        return totals


def _thread_names() -> dict[int, str]:
    return {t.native_id: t.name for t in threading.enumerate() if t.native_id is not None}
