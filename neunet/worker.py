"""``python -m neunet.worker --connect HOST:PORT --slots N``: run sweep tasks for a coordinator.

A thin entry point: the command line lives in `neunet.runner.worker.cli`.
"""
import sys

from neunet.runner.worker.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
