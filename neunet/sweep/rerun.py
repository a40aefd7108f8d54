"""Owns ``python -m neunet.rerun RUN_DIR TID``: re-run one stored task here, compare its hash.

The task's parameters (with the seed it actually used) and the run's filter come from the run
directory; the task is simulated and filtered in this process exactly as a worker slot does,
through the same pipeline as a worker's slot (`neunet.sweep.task_run.run_task`), and the SHA-256
of its summary and kept arrays (`neunet.store.digest.result_hash`) is compared with the one
recorded when its result was stored. Exit status: 0 the hashes match, 1 they
differ, 2 bad usage (one line on stderr).
"""
from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from pathlib import Path


class _UsageError(Exception):
    """Bad command line or run directory: one line on stderr, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise _UsageError(message)


def _stored_task(run_dir: Path, tid: str) -> tuple:
    """(parameters, filter spec, recorded hash) of task `tid`; _UsageError if unusable."""
    from neunet.store.npz import StoreError
    from neunet.store.schema import INDEX_NAME
    if not (run_dir / INDEX_NAME).is_file():
        raise _UsageError(f"{run_dir} is not a run directory (no {INDEX_NAME})")
    try:
        db = sqlite3.connect(f"file:{run_dir / INDEX_NAME}?mode=ro", uri=True)
        try:
            row = db.execute("SELECT params, status, result_hash FROM tasks WHERE tid = ?",
                             (tid,)).fetchone()
            spec = db.execute("SELECT value FROM meta WHERE key = 'filter'").fetchone()
        finally:
            db.close()
    except (sqlite3.Error, StoreError) as exc:
        raise _UsageError(f"cannot read {run_dir}: {exc}") from None
    if row is None:
        raise _UsageError(f"no task {tid!r} in {run_dir}")
    if row[1] != "finished" or not row[2]:
        raise _UsageError(f"task {tid} is {row[1]}" + (", with no recorded result hash"
                                                      if row[1] == "finished" else ""))
    return json.loads(row[0]), (json.loads(spec[0]) if spec else None), row[2]


def full_tid(run_dir, tid: str) -> str:
    """The task id of `tid` or of a unique prefix of one; _UsageError if none or several."""
    from neunet.store import StoreError, open_run
    try:
        return open_run(run_dir).resolve(tid)
    except StoreError as exc:
        raise _UsageError(str(exc)) from None


def rerun(run_dir, tid: str) -> tuple[bool, str, str]:
    """Re-run task `tid` (or the task of a unique prefix) of `run_dir` in this process.

    Returns
    -------
    (match, stored_hash, new_hash) : tuple
    """
    from neunet.sweep.task_run import run_task
    pm, spec, stored = _stored_task(Path(run_dir), full_tid(run_dir, tid))
    new = run_task(pm, spec).digest
    return new == stored, stored, new


def main(argv=None) -> int:
    """Entry point; returns the exit status."""
    p = _Parser(prog="python -m neunet.rerun",
                description="Re-run one task of a run directory and check its result hash.")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("tid", metavar="TID", help="a task id, or a unique prefix of one")
    try:
        args = p.parse_args(argv)
        args.tid = full_tid(args.run_dir, args.tid)
        match, stored, new = rerun(args.run_dir, args.tid)
    except _UsageError as exc:
        print(f"neunet.rerun: error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.tid}: {'match' if match else 'MISMATCH'} (stored {stored[:16]}, "
          f"now {new[:16]})")
    return 0 if match else 1


if __name__ == "__main__":
    sys.exit(main())
