"""The run directory's format: file names, the index schema, task states and cell encoding.

Shared by the writer (`neunet.store.RunStore`) and the reader (`neunet.store.reader.Run`), which
depend on this module and not on each other: the layout and SQL schema of a run directory,
the task states and writable fields, and how parameters, summaries and values are encoded
into the index (JSON text, mirror-column cells).
"""
from __future__ import annotations

import hashlib
import json
import os
from typing import NamedTuple

import numpy as np

# File name of the index inside a run directory.
INDEX_NAME = "index.sqlite"
# Folder (in a run directory) holding one .npz per task with kept data above INDEX_BLOB_MAX_BYTES.
DATA_DIR = "data"
# Kept data up to this size is stored inside the index (table `blobs`), not in a file of its
# own: small blobs are written and read faster by SQLite than as files, they share the
# index's one fsync, and a sweep of many tiny tasks does not create a file per task (bytes).
INDEX_BLOB_MAX_BYTES = 128 * 1024
# `data_file` of a task whose kept data is stored inside the index (table `blobs`).
INLINE_DATA_FILE = INDEX_NAME
# Task states (the seed's names): queued, held by a worker, running, result travelling, closed.
NOT_ASSIGNED, ASSIGNED, SIMULATING, FILTERING, PULLING = (
    "not-assigned", "assigned", "simulating", "filtering", "pulling")
FINISHED, FAILED = "finished", "failed"
# Every task state, in its usual order: the one list (scheduler, Task, store and Dask use it).
STATES = (NOT_ASSIGNED, ASSIGNED, SIMULATING, FILTERING, PULLING, FINISHED, FAILED)
# States a worker reports for a task it has started.
STARTED_STATES = (SIMULATING, FILTERING, PULLING)
# States of a task that is over (it is never run again).
CLOSED_STATES = (FINISHED, FAILED)


class TaskRow(NamedTuple):
    """One task as the coordinator, the scheduler and the store pass it around."""
    tid: str           # the task id (hash of its parameters)
    pm: dict           # its parameters, with the seed it runs with
    est_cost: float    # estimated cost (quiet steps), `neunet.sweep.cost.time_cost`
    est_s: float       # estimated seconds
# Columns of `tasks` other than tid / params / summary that set_status may change.
FIELDS = ("status", "worker", "attempts", "est_cost", "est_s", "real_s", "started", "finished",
          "failure_class", "reason", "data_file", "data_bytes", "result_hash", "history")
# Columns of table() that come first, in this order.
TABLE_COLUMNS = ("tid", "status", "worker", "attempts", "est_cost", "est_s", "real_s",
                 "started", "finished", "failure_class", "reason", "data_file", "result_hash")
# Seconds a connection waits for a lock held by another connection.
BUSY_TIMEOUT_S = 30.0

# The index: one row per task, key -> JSON meta values, inline .npz data of small results.
SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    tid TEXT NOT NULL UNIQUE,
    params TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'not-assigned',
    worker TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    est_cost REAL,
    est_s REAL,
    real_s REAL,
    started REAL,
    finished REAL,
    failure_class TEXT,
    reason TEXT,
    data_file TEXT,
    data_bytes INTEGER,
    summary TEXT,
    result_hash TEXT,
    history TEXT,
    mirrored INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS tasks_status ON tasks(status);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS blobs (tid TEXT PRIMARY KEY, npz BLOB NOT NULL);
"""


# Prefix of the `tasks` columns mirroring each parameter (flattened) for fast table(); they
# are filled when a task's result is recorded (`mirrored` = 1), so that sync_tasks stays fast.
PARAM_PREFIX = "p:"
# Prefix of the `tasks` columns mirroring each summary statistic.
STAT_PREFIX = "s:"
# Meta key listing the parameters holding booleans (SQLite stores them as 0/1).
BOOL_PARAMS_KEY = "_bool_params"


def _json_default(value):
    """JSON encoder fallback: numpy scalars/arrays, scipy.sparse, paths."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if hasattr(value, "tocoo"):  # scipy.sparse, without importing scipy
        coo = value.tocoo()
        return {"sparse_shape": list(coo.shape), "row": coo.row.tolist(),
                "col": coo.col.tolist(), "data": coo.data.tolist()}
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"cannot store a {type(value).__name__} in the run index")


def to_json(value) -> str:
    """Encode parameters or a summary as JSON text (numpy-aware, NaN/inf allowed)."""
    return json.dumps(value, default=_json_default, separators=(",", ":"))


def quote_identifier(name: str) -> str:
    """An SQL identifier for any column name."""
    return '"' + str(name).replace('"', '""') + '"'


def float_or_none(value):
    """`value` as a float, None as None."""
    return None if value is None else float(value)


def stored_summary(summary) -> dict:
    """A summary as `RunStore.record_results` stores and hashes it (names str, values float)."""
    return {str(k): float_or_none(v) for k, v in dict(summary or {}).items()}


# Types stored in a mirror column as they are.
_PLAIN_TYPES = (str, int, float, bool, type(None))


def mirror_cell(value, memo: dict):
    """The mirror-column cell of one parameter value (see `flat_value`)."""
    if type(value) in _PLAIN_TYPES:
        return value
    if isinstance(value, np.generic):
        return value.item()
    key = id(value)
    if key not in memo:
        memo[key] = flat_value(json.loads(to_json(value)))
    return memo[key]


def flat_value(value):
    """A table cell for one parameter: scalars as they are, lists and matrices as text."""
    if isinstance(value, list):
        if all(not isinstance(v, (list, dict)) for v in value):
            return ", ".join(map(str, value))
        digest = hashlib.sha256(to_json(value).encode()).hexdigest()[:8]
        inner = len(value[0]) if isinstance(value[0], list) else "?"
        return f"matrix {len(value)}x{inner} #{digest}"
    if isinstance(value, dict):
        return f"{{{', '.join(sorted(value))}}} #" + hashlib.sha256(
            to_json(value).encode()).hexdigest()[:8]
    return value
