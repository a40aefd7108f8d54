"""``python -m neunet.rerun RUN_DIR TID``: re-run one stored task here and compare its hash.

A thin entry point: the command and `rerun` live in `neunet.sweep.rerun`.
"""
import sys

from neunet.sweep.rerun import main, rerun

__all__ = ["main", "rerun"]

if __name__ == "__main__":
    sys.exit(main())
