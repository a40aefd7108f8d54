"""``python -m neunet.coordinator TASKS.py``: serve a sweep to workers.

A thin entry point: the command line lives in `neunet.runner.coordinator.cli`.
"""
import sys

from neunet.runner.coordinator.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
