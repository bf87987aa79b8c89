"""`python -m infra.cli`: the `fanout` command."""

import sys

from infra.cli.main import main

# Guarded: the workers' spawned processes import the main module again.
if __name__ == "__main__":
    sys.exit(main())
