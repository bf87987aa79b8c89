"""The `fanout` command as a child process, as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable, Mapping


def fanout(
    *args: str, env: Mapping[str, str] | None = None, unset: Iterable[str] = (), timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """Runs `fanout ARGS` with this environment plus `env`, less the variables named in `unset`."""
    dropped = set(unset)
    environment = {k: v for k, v in {**os.environ, **(env or {})}.items() if k not in dropped}
    return subprocess.run(
        [sys.executable, "-m", "infra.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=environment,
    )
