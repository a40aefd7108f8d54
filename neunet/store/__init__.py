"""The run directory of a sweep: `RunStore` writes it, `open_run` reads it (also mid-sweep).

Layout::

    RUN_DIR/
      index.sqlite     table `tasks` (one row per task), `meta` (key -> JSON value) and
                       `blobs` (tid -> .npz bytes of kept data up to `schema.INDEX_BLOB_MAX_BYTES`)
      data/<tid>.npz   larger bulk data a task kept (numpy .npz, written atomically)
      lock             flock of the one writing process; its pid (and address) as JSON

Modules, lowest first: `npz` (a task's data file, the errors), `digest` (a result's SHA-256),
`schema` (names, SQL schema, the one list of task states, JSON encoding), `lock` (one writer
at a time), `index` (the index created whole, a damaged one refused), `writer` (`RunStore`,
the single writer) and `reader` (`Run`, what `open_run` returns).
"""
from __future__ import annotations

from neunet.store.errors import NoDataError, StoreError
from neunet.store.lock import RunLockedError

__all__ = ["CorruptIndexError", "NoDataError", "Run", "RunLockedError", "RunStore",
           "StoreError", "open_run"]
# Public names loaded on first use (the writer and reader import numpy and SQLite; a
# coordinator takes the run directory's lock before loading them) -> their modules.
_LAZY = {"Run": "neunet.store.reader", "RunStore": "neunet.store.writer",
         "CorruptIndexError": "neunet.store.index"}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'neunet.store' has no attribute {name!r}")


def open_run(run_dir) -> Run:  # noqa: F821  (a lazy name, see _LAZY)
    """Open a run directory for reading (also while its sweep is still running).

    Parameters
    ----------
    run_dir : str or Path
        The coordinator's `--run-dir`.

    Returns
    -------
    neunet.store.reader.Run
        With `.table()`, `.query(expr)`, `.load(tid)`, `.failures()`, `.counts()`, `.meta()`.

    Raises
    ------
    StoreError
        When `run_dir` is no run directory, or its index is empty or damaged
        (`CorruptIndexError`), with one line saying which and what to do.
    """
    from neunet.store.reader import Run

    return Run(run_dir)
