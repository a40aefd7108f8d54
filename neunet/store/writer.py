"""The run directory of a sweep: SQLite index + the .npz data of each task; RunStore writes.

Layout (docs/design.md)::

    RUN_DIR/
      index.sqlite     table `tasks` (one row per task), table `meta` (key -> JSON value) and
                       table `blobs` (tid -> .npz bytes of kept data up to `INDEX_BLOB_MAX_BYTES`)
      data/<tid>.npz   larger bulk data a task kept (numpy .npz, written atomically)

`RunStore` is the single writer (the coordinator, or an executor: it holds the run
directory's lock, `neunet.store.lock`, and refuses an empty or damaged index,
`neunet.store.index`); every method commits with
``synchronous=FULL`` in WAL mode before returning, so a crash never loses what a method
reported as done. `open_run` returns the reader (`neunet.store.reader.Run`): a read-only
connection that works while a sweep is running and gives a pandas DataFrame (`table`,
`query`), one task's `Result` (`load`) and the failures grouped by reason.
"""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from neunet.atomic import atomic_write
from neunet.store.digest import result_hash, result_hash_of_file
from neunet.store.index import check_index, connect_writer, create_index
from neunet.store.lock import RunLock
from neunet.store.npz import StoreError, decode_arrays, encode_arrays, ends_like_npz
from neunet.store.schema import (
    BOOL_PARAMS_KEY,
    DATA_DIR,
    FIELDS,
    INDEX_NAME,
    INLINE_DATA_FILE,
    PARAM_PREFIX,
    STAT_PREFIX,
    STATES,
    TaskRow,
    float_or_none,
    mirror_cell,
    quote_identifier,
    stored_summary,
    to_json,
)

# Statement of record_result(s); {} receives the mirror-column assignments.
_RESULT_SQL = ("UPDATE tasks SET status = 'finished', summary = ?, real_s = ?, worker = ?, "
               "data_file = ?, data_bytes = ?, finished = ?, failure_class = NULL, "
               "reason = NULL, result_hash = ?, mirrored = 1{} WHERE tid = ?")
# Most tids in one `WHERE tid IN (...)` query.
_IN_CHUNK = 500
# Statement of set_meta.
_META_SQL = "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)"
# Statements storing a task's inline data, and dropping it (its data went to a file or away).
_BLOB_SQL = "INSERT OR REPLACE INTO blobs (tid, npz) VALUES (?, ?)"
_UNBLOB_SQL = "DELETE FROM blobs WHERE tid = ?"


def _task_fields(task) -> tuple:
    """(tid, pm, est_cost, est_s) of a TaskRow, a Task or a dict with tid/pm/est_cost/est_s."""
    if isinstance(task, TaskRow):
        tid, pm, est_cost, est_s = task
    elif isinstance(task, dict):
        tid, pm = task["tid"], task["pm"]
        est_cost, est_s = task.get("est_cost"), task.get("est_s")
    else:
        tid, pm = task.tid, task.pm
        times = list(getattr(task, "time", None) or []) + [None, None]
        est_cost, est_s = times[0], times[1]
    if not isinstance(tid, str) or not tid:
        raise StoreError(f"task id must be a non-empty string, got {tid!r}")
    return tid, pm, float_or_none(est_cost), float_or_none(est_s)


def _is_hash(value) -> bool:
    """Whether `value` looks like a SHA-256 hex digest."""
    return (isinstance(value, str) and len(value) == 64
            and all(c in "0123456789abcdef" for c in value))


def _digest(summary: dict, data, given, checked: bool) -> str:
    """The result_hash of a stored result: `given` (computed where the arrays were in memory)
    once the data (.npz bytes or a file's Path) ends like an .npz (`checked`: the caller
    checked), else computed from the data; of the summary alone when there is no data."""
    if data is None:
        return result_hash(summary, None)
    if _is_hash(given) and (checked or ends_like_npz(data)):
        return given
    if isinstance(data, bytes):
        return result_hash(summary, decode_arrays(data))
    return result_hash_of_file(summary, data)


# ----------------------------------------------------------------------------------------
# Writer


class RunStore:
    """The single writer of a run directory; every method is durable when it returns.

    Parameters
    ----------
    run_dir : str or Path
        Directory to create or reopen (restart of the same sweep).
    """

    def __init__(self, run_dir):
        self.run_dir = Path(run_dir)
        self.run_lock = RunLock.acquire(self.run_dir)
        try:
            (self.run_dir / DATA_DIR).mkdir(parents=True, exist_ok=True)
            if not check_index(self.run_dir, must_exist=False):
                create_index(self.run_dir / INDEX_NAME)
            self._db = connect_writer(self.run_dir / INDEX_NAME)
        except BaseException:
            self.run_lock.release()
            raise
        self._lock = threading.Lock()
        self._columns = {r[1] for r in self._db.execute("PRAGMA table_info(tasks)")}
        for name in ("result_hash", "history"):  # a run directory from an earlier version
            if name not in self._columns:
                self._db.execute(f"ALTER TABLE tasks ADD COLUMN {name} TEXT")
                self._columns.add(name)
        self._bools = set(self.get_meta(BOOL_PARAMS_KEY, []))

    def _add_columns(self, names):
        """Add mirror columns (`p:<param>`, `s:<stat>`) not yet in `tasks` (in a transaction)."""
        for name in names:
            if name not in self._columns:
                self._db.execute(f"ALTER TABLE tasks ADD COLUMN {quote_identifier(name)}")
                self._columns.add(name)

    def _write_groups(self, groups: dict, before=(), first=None) -> int:
        """executemany each (sql -> rows) group in one committed transaction, after the groups
        `first` (not counted); rows changed."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._add_columns(before)
                for sql, rows in (first or {}).items():
                    self._db.executemany(sql, rows)
                changed = 0
                for sql, rows in groups.items():
                    changed += self._db.executemany(sql, rows).rowcount
                self._db.execute("COMMIT")
            except BaseException:
                self._rollback()
                self._columns = {r[1] for r in self._db.execute("PRAGMA table_info(tasks)")}
                raise
            return changed

    def _rollback(self) -> None:
        """Undo the open transaction, if SQLite has not already (it rolls back by itself
        after a full disk: a second ROLLBACK would hide the real error behind 'cannot
        rollback - no transaction is active')."""
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")

    def close(self):
        """Close the connection and release the run directory's lock (the files stay
        consistent whether or not this is called)."""
        with self._lock:
            self._db.close()
            if self.run_lock is not None:
                self.run_lock.release()
                self.run_lock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _write(self, sql: str, rows=None, many=False):
        """Run one statement (or executemany) in its own committed transaction."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                cur = (self._db.executemany(sql, rows) if many
                       else self._db.execute(sql, rows or ()))
                self._db.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
            return cur.rowcount

    def sync_tasks(self, tasks) -> tuple[int, int, int]:
        """Make the index know every task; new ones start as 'not-assigned'.

        Parameters
        ----------
        tasks : list of TaskRow, Task or dict
            `neunet.store.schema.TaskRow`, objects with `tid`, `pm` and `time` ([est_cost,
            est_s, ...]), or dicts with keys tid, pm, est_cost, est_s.

        Returns
        -------
        (kept, new, missing) : tuple of int
            Tasks already in the index, tasks inserted, and tasks in the index that are not
            in `tasks` (left untouched, with their results).
        """
        given = {}
        for task in tasks:
            fields = _task_fields(task)
            given[fields[0]] = fields
        with self._lock:
            known = {r[0] for r in self._db.execute("SELECT tid FROM tasks")}
        n_new = sum(tid not in known for tid in given)
        new = ((tid, to_json(pm if isinstance(pm, dict) else dict(pm)), est_cost, est_s)
               for tid, pm, est_cost, est_s in given.values() if tid not in known)
        # a generator: the JSON of 100,000 tasks is never all in memory at once
        self._write("INSERT INTO tasks (tid, params, est_cost, est_s) VALUES (?, ?, ?, ?)",
                    new, many=True)
        kept = len(given) - n_new
        return kept, n_new, len(known) - kept

    def set_status(self, tid: str, status: str, **fields):
        """Set a task's state and any of the columns in `FIELDS` (worker, attempts, ...)."""
        sql, args = self._status_sql(tid, status, fields)
        if self._write(sql, args) != 1:
            raise StoreError(f"no task {tid!r} in {self.run_dir}")

    @staticmethod
    def _status_sql(tid, status, fields) -> tuple[str, list]:
        if status not in STATES:
            raise StoreError(f"unknown task state {status!r} (states: {', '.join(STATES)})")
        bad = sorted(set(fields) - set(FIELDS))
        if bad:
            raise StoreError(f"unknown task field(s) {', '.join(bad)} "
                             f"(fields: {', '.join(FIELDS)})")
        fields = dict(fields, status=status)
        names = sorted(fields)
        sql = f"UPDATE tasks SET {', '.join(n + ' = ?' for n in names)} WHERE tid = ?"
        return sql, [fields[n] for n in names] + [tid]

    def data_path(self, tid: str) -> Path:
        """Where the kept data of task `tid` lives (rename a finished temp file there)."""
        if not tid or "/" in tid or "\\" in tid or tid.startswith("."):
            raise StoreError(f"task id {tid!r} cannot name a data file")
        return self.run_dir / DATA_DIR / f"{tid}.npz"

    def write_data(self, tid: str, kept: dict) -> Path:
        """Write `kept` atomically (temp file, fsync, rename) to `data_path(tid)`; return it."""
        path = self.data_path(tid)
        atomic_write(path, encode_arrays(kept), durable=True)
        return path

    def _result_row(self, result, stored, memo, finished=None) -> tuple:
        """(sql, mirror column names, row, inline .npz bytes or None) of one (tid, summary,
        real_s, worker, data_file or .npz bytes[, result_hash[, tail_checked]])."""
        tid, summary, real_s, worker, data = result[:5]
        given = result[5] if len(result) > 5 else None
        checked = len(result) > 6 and result[6] is True
        rel, size, blob, path = None, None, None, None
        if isinstance(data, (bytes, bytearray, memoryview)):
            blob = bytes(data)
            rel, size = INLINE_DATA_FILE, len(blob)
        elif data is not None:
            path = Path(data)
            path = path if path.is_absolute() else self.run_dir / path
            size = path.stat().st_size
            try:
                rel = path.relative_to(self.run_dir).as_posix()
            except ValueError:
                rel = str(path)
        summary = stored_summary(summary)
        cells = {STAT_PREFIX + k: v for k, v in summary.items()}
        if stored is not None and not stored[1]:  # parameters not mirrored yet
            for key, value in json.loads(stored[0]).items():
                cells[PARAM_PREFIX + key] = cell = mirror_cell(value, memo)
                if cell is True or cell is False:
                    self._new_bools.add(key)
        sql = _RESULT_SQL.format("".join(f", {quote_identifier(n)} = ?" for n in cells))
        row = (to_json(summary), float_or_none(real_s),
               None if worker is None else str(worker), rel, size,
               time.time() if finished is None else float(finished),
               _digest(summary, blob if blob is not None else path, given, checked),
               *cells.values(), tid)
        return sql, list(cells), row, blob

    def _stored(self, tids) -> dict:
        """tid -> (params JSON, mirrored) for the given tids."""
        tids = list(dict.fromkeys(tids))
        out = {}
        for i in range(0, len(tids), _IN_CHUNK):
            part = tids[i:i + _IN_CHUNK]
            sql = (f"SELECT tid, params, mirrored FROM tasks WHERE tid IN "
                   f"({', '.join('?' * len(part))})")
            out.update((r[0], r[1:]) for r in self._select(sql, part))
        return out

    def record_result(self, tid: str, summary: dict, real_s, worker, data_file=None):
        """Mark a task finished, with its summary statistics and its data file (a path, the
        .npz bytes to store inside the index, or None)."""
        self.record_results([(tid, summary, real_s, worker, data_file)])

    def record_results(self, results, statuses=(), finished=None) -> int:
        """`record_result` for many tasks in one durable transaction (one fsync).

        Parameters
        ----------
        results : iterable of tuple
            (tid, summary, real_s, worker, data) per task, where data is the path of a data
            file, the .npz bytes themselves (stored inside the index, table `blobs`: for
            results up to `INDEX_BLOB_MAX_BYTES`) or None; optionally with a sixth item: the
            result's
            `neunet.sweep.provenance.result_hash` computed where its arrays were in memory
            (`stored_summary(summary)` and the kept arrays). It is used after a cheap check
            that the data ends like an .npz (no 50 MB re-read; a seventh item True says the
            caller checked its bytes with `ends_like_npz`); without it the hash is computed
            from the data.
        statuses : iterable of (tid, status, fields dict)
            `set_statuses` updates written first, in the same transaction.
        finished : dict, optional
            tid -> UNIX time the task finished (its result arrived), when not now.

        Returns
        -------
        int
            Number of tasks updated.
        """
        results = list(results)
        stored = self._stored(r[0] for r in results)
        groups: dict[str, list] = {}
        columns: dict[str, None] = {}
        memo: dict[int, object] = {}
        self._new_bools = set()
        first = self._status_groups(statuses)
        for result in results:
            sql, names, row, blob = self._result_row(result, stored.get(result[0]), memo,
                                                     (finished or {}).get(result[0]))
            columns.update(dict.fromkeys(names))
            groups.setdefault(sql, []).append(row)
            if blob is not None:
                first.setdefault(_BLOB_SQL, []).append((result[0], blob))
            else:  # no stale inline data behind a file or a result without data
                first.setdefault(_UNBLOB_SQL, []).append((result[0],))
        if self._new_bools - self._bools:
            self._bools |= self._new_bools
            groups[_META_SQL] = [(BOOL_PARAMS_KEY, to_json(sorted(self._bools)))]
        n_rows = len(results)
        changed = self._write_groups(groups, before=columns, first=first) if n_rows or first \
            else 0
        changed -= len(groups.get(_META_SQL, ()))
        if changed != n_rows:
            missing = [r[0] for r in results if r[0] not in stored]
            raise StoreError(f"no task {', '.join(map(repr, missing[:5]))} in {self.run_dir}"
                             + (f" (and {len(missing) - 5} more)" if len(missing) > 5 else ""))
        return changed

    def set_statuses(self, updates) -> None:
        """`set_status` for many tasks in one durable transaction.

        Parameters
        ----------
        updates : iterable of (tid, status, fields dict)
        """
        self._write_groups(self._status_groups(updates))

    def _status_groups(self, updates) -> dict:
        groups: dict[str, list] = {}
        for tid, status, fields in updates:
            sql, args = self._status_sql(tid, status, dict(fields or {}))
            groups.setdefault(sql, []).append(args)
        return groups

    def _select(self, sql: str, args=()) -> list:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def unfinished(self, include_failed: bool = True) -> list[str]:
        """Tids not finished (optionally also not failed), most expensive estimate first."""
        skip = ("finished",) if include_failed else ("finished", "failed")
        marks = ", ".join("?" * len(skip))
        sql = (f"SELECT tid FROM tasks WHERE status NOT IN ({marks}) "
               "ORDER BY est_cost IS NULL, est_cost DESC, seq")
        return [r[0] for r in self._select(sql, skip)]

    def finished(self) -> set[str]:
        """Tids of finished tasks."""
        return {r[0] for r in self._select("SELECT tid FROM tasks WHERE status = 'finished'")}

    def statuses(self) -> dict[str, str]:
        """Tid -> state, for every task."""
        return dict(self._select("SELECT tid, status FROM tasks"))

    def set_meta(self, key: str, value):
        """Store a JSON-encodable value under `key` (e.g. the filter spec, the TASKS.py path)."""
        self._write(_META_SQL, (str(key), to_json(value)))

    def get_meta(self, key: str, default=None):
        """The value stored under `key`, or `default`."""
        rows = self._select("SELECT value FROM meta WHERE key = ?", (str(key),))
        return json.loads(rows[0][0]) if rows else default
