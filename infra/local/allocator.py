"""How many malloc arenas the local stack's processes may use (glibc).

glibc gives a thread that finds the arenas busy an arena of its own, up to 8 per core (16 here).
The emulator's request threads, the CLI's splitter and each worker process's posting threads
each kept their arena's high-water mark of message bodies and responses: with `MALLOC_ARENA_MAX=2`
the whole `fanout run` tree of a 300 MB file peaked about 50 MB lower (bench/README.md, "The
headline on one machine"), at the same wall time. Lambda runs one environment per process and
sizes its memory itself; this is for the local stack only.
"""

from __future__ import annotations

import ctypes
import logging
from collections.abc import Callable

log = logging.getLogger("fanout.local")

# mallopt's parameter number for the arena limit (glibc's malloc.h: #define M_ARENA_MAX -8).
M_ARENA_MAX = -8
# Two rather than one: a single arena makes every thread's malloc wait on one lock.
LOCAL_ARENA_MAX = 2


def _mallopt() -> Callable[[int, int], int] | None:
    # The process's own symbols (CDLL(None)) include the C library's: no ldconfig lookup, which
    # find_library runs as a child process.
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is None:  # not glibc (musl has none)
        return None
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return mallopt  # type: ignore[no-any-return]


def can_limit_arenas() -> bool:
    return _mallopt() is not None


def limit_arenas(arenas: int = LOCAL_ARENA_MAX) -> bool:
    """Caps this process's malloc arenas; True when the C library took it (glibc only).

    Takes effect for arenas created after it (call it before the process starts its threads),
    and a forked child keeps the setting.
    """
    mallopt = _mallopt()
    if mallopt is None:
        log.debug("the C library has no mallopt: malloc arenas left as they are")
        return False
    return bool(mallopt(M_ARENA_MAX, arenas))
