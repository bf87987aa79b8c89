"""How many processes the local stack spreads the workers' execution environments over."""

from __future__ import annotations

import os

# One per CPU: each process has its own interpreter lock, as each Lambda execution environment
# has its own process.
DEFAULT_PROCESSES = os.cpu_count() or 1
