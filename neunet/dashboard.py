"""``python -m neunet.dashboard RUN_DIR``: serve the live web dashboard of a run directory.

A thin entry point: the dashboard lives in `neunet.runner.dashboard`.
"""
import sys

from neunet.runner.dashboard.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
