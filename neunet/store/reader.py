"""The reader of a run directory: `Run` (table, query, load, failures), opened by `open_run`.

Read-only SQLite connections, one per call, so a `Run` works while the sweep is still
writing (WAL) and sees its progress. Opening checks the index once (`neunet.store.index`:
an empty, damaged or foreign index is a `StoreError` naming it). The writer is
`neunet.store.writer`, the file format `neunet.store.schema`.
"""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np

from neunet.analysis.expr import FilterError, alias
from neunet.result import Result
from neunet.store.index import check_index, verify
from neunet.store.npz import NoDataError, StoreError, decode_arrays
from neunet.store.schema import (
    BOOL_PARAMS_KEY,
    BUSY_TIMEOUT_S,
    INDEX_NAME,
    INLINE_DATA_FILE,
    PARAM_PREFIX,
    STAT_PREFIX,
    TABLE_COLUMNS,
    flat_value,
)

# Task ids named in the error of an ambiguous prefix.
PREFIX_SHOWN = 5


def _param_columns(df, names) -> dict:
    """Parameter name -> column: the mirror columns, completed from the JSON of the rows not
    mirrored yet (tasks without a recorded result)."""
    import pandas as pd

    cols = {c[len(PARAM_PREFIX):]: df[c] for c in names if c.startswith(PARAM_PREFIX)}
    todo = np.flatnonzero(df["mirrored"].to_numpy() == 0) if len(df) else []
    if len(todo) == 0:
        return cols
    texts = df["params"].to_numpy()[todo]
    flat = json.loads("[" + ",".join(texts) + "]")
    for i, text in enumerate(texts):
        if "[" in text or "{" in text[1:]:  # lists or matrices somewhere: flatten this one
            flat[i] = {k: flat_value(v) for k, v in flat[i].items()}
    keys = list(dict.fromkeys(k for pm in flat for k in pm))
    for key in keys + [k for k in cols if k not in keys]:
        base = (cols[key].to_numpy(dtype=object, copy=True) if key in cols
                else np.full(len(df), None, dtype=object))
        base[todo] = [pm.get(key) for pm in flat]
        cols[key] = pd.Series(base, index=df.index).infer_objects()
    order = list(cols)  # mirror columns first, then keys seen only in JSON
    return {k: cols[k] for k in order}


def varying_columns(table, params: list, stats: list):
    """`table` reduced to tid, status, real_s (failure_class, reason when a task failed), the
    parameters that vary and the statistics (see `Run.table`)."""
    keep = ["tid", "status", "real_s"]
    if (table["status"] == "failed").any():
        keep += ["failure_class", "reason"]
    for name in params:
        col = PARAM_PREFIX + name if PARAM_PREFIX + name in table.columns else name
        values = table[col].astype(str)
        n = values.nunique()
        if n > 1 and not (name == "seed" and n == len(table)):
            keep.append(col)
    return table[keep + [c for c in stats if c in table.columns]]


class Run:
    """A read-only view of a run directory (use `open_run`)."""

    def __init__(self, run_dir):
        self.run_dir = Path(run_dir)
        if self.run_dir.is_dir():
            check_index(self.run_dir, must_exist=True)
        else:
            raise StoreError(f"{self.run_dir} is not a run directory (no such directory)")
        self._index = self.run_dir / INDEX_NAME
        self._params_cache: dict[str, dict] = {}
        self._connect(check=True).close()

    def __repr__(self):
        from neunet.store.display import run_repr
        return run_repr(self)

    def _repr_html_(self):
        from neunet.store.display import run_html
        return run_html(self)

    def resolve(self, tid: str) -> str:
        """The full task id of `tid` or of a unique prefix of one (as git takes commits).

        Raises
        ------
        StoreError
            When no task starts with `tid`, or several do (some of them are named).
        """
        tid = str(tid)
        if not tid:
            raise StoreError("an empty task id")
        rows = self._rows("SELECT tid FROM tasks WHERE tid >= ? AND tid < ? ORDER BY tid "
                          "LIMIT ?", (tid, tid + "\U0010ffff", PREFIX_SHOWN + 1))
        if any(r[0] == tid for r in rows):
            return tid
        if not rows:
            raise StoreError(f"no task {tid!r} in {self.run_dir}")
        if len(rows) > 1:
            some = ", ".join(r[0] for r in rows[:PREFIX_SHOWN])
            more = " ..." if len(rows) > PREFIX_SHOWN else ""
            raise StoreError(f"task id prefix {tid!r} is ambiguous in {self.run_dir}: "
                             f"{some}{more}")
        return rows[0][0]

    def task(self, tid: str) -> dict:
        """The index row of task `tid` (or of a unique prefix): state, worker, attempts,
        estimates, times (UNIX s), failure class and reason, data file."""
        tid = self.resolve(tid)
        names = ", ".join(TABLE_COLUMNS)
        db = self._connect()
        try:
            cur = db.execute(f"SELECT {names} FROM tasks WHERE tid = ?", (tid,))
            return dict(zip(TABLE_COLUMNS, cur.fetchone()))
        finally:
            db.close()

    def _connect(self, check: bool = False):
        """A read-only connection; `check`: verify the index reads back (once, at open)."""
        uri = f"{self._index.resolve().as_uri()}?mode=ro"
        try:
            db = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S)
        except sqlite3.Error as err:
            raise StoreError(f"cannot read {self._index}: {err}") from None
        try:
            if check:
                verify(db, self._index)
            else:
                db.execute("SELECT 1 FROM tasks LIMIT 1")
        except sqlite3.Error as err:
            db.close()
            raise StoreError(f"cannot read {self._index}: {err}") from None
        except StoreError:
            db.close()
            raise
        return db

    def _rows(self, sql: str, args=()) -> list:
        db = self._connect()
        try:
            return db.execute(sql, args).fetchall()
        finally:
            db.close()

    def _params(self, tid: str, text: str) -> dict:
        pm = self._params_cache.get(tid)
        if pm is None:
            pm = self._params_cache[tid] = json.loads(text)
        return pm

    def table(self, varying: bool = False):
        """All tasks as a pandas DataFrame, one row per task, in the order they were added.

        With ``varying=True``: tid, status, real_s (failure_class and reason when a task
        failed), only the parameters whose value differs between tasks (a per-task seed
        that is different in every task is left out), then the summary statistics.

        Columns: tid, status, worker, attempts, est_cost, est_s, real_s, started, finished
        (UNIX s), failure_class, reason, data_file, result_hash, then one column per parameter
        (per-neuron lists as text "0.1, 0.2", matrices as a short text with a content hash),
        then one column per summary statistic (NaN where a task has none yet).
        """
        import pandas as pd

        db = self._connect()
        try:
            cur = db.execute("SELECT * FROM tasks ORDER BY seq")
            names = [d[0] for d in cur.description]
            rows = cur.fetchall()
            bools = set(json.loads((db.execute("SELECT value FROM meta WHERE key = ?",
                                               (BOOL_PARAMS_KEY,)).fetchone() or ["[]"])[0]))
        finally:
            db.close()
        df = pd.DataFrame.from_records(rows, columns=names)
        out = {c: df[c] for c in TABLE_COLUMNS}
        params = _param_columns(df, names)
        for name, values in params.items():
            if name in bools and values.isin([0, 1]).all():
                values = values.astype(bool)
            out[PARAM_PREFIX + name if name in out else name] = values
        for col in (c for c in names if c.startswith(STAT_PREFIX)):
            name = col[len(STAT_PREFIX):]
            out[col if name in out else name] = df[col].astype(float)
        table = pd.DataFrame(out, index=df.index)
        if varying:
            stats = [c[len(STAT_PREFIX):] if c[len(STAT_PREFIX):] not in TABLE_COLUMNS else c
                     for c in names if c.startswith(STAT_PREFIX)]
            return varying_columns(table, list(params), stats)
        return table

    def query(self, expr: str, table=None):
        """Rows of `table()` (or of `table`) matching a query.

        The query is in the smart filter's safe expression language (`neunet.analysis.expr`:
        names, numbers, strings, arithmetic, comparisons, and/or/not; no calls, attributes
        or indexing), evaluated over whole columns (`neunet.analysis.expr_table`). Column
        names with hyphens can be written with underscores (`neuron_model == 'HH-GH'`) or in
        backticks (`` `neuron-model` == 'HH-GH' ``).

        Raises
        ------
        StoreError
            ``bad query: ...`` with the column of the fault, for an invalid query.
        """
        from neunet.analysis.expr_table import select

        df = self.table() if table is None else table
        columns = {c: df[c] for c in df.columns}
        for c in df.columns:
            columns.setdefault(alias(c), df[c])
        try:
            mask = select(expr, columns, len(df))
        except FilterError as err:
            raise StoreError(f"bad query: {err}") from None
        return df.loc[mask]

    def params(self, tid: str) -> dict:
        """The parameters of task `tid` (or of a unique prefix of one)."""
        tid = self.resolve(tid)
        rows = self._rows("SELECT params FROM tasks WHERE tid = ?", (tid,))
        if not rows:
            raise StoreError(f"no task {tid!r} in {self.run_dir}")
        return dict(self._params(tid, rows[0][0]))

    def summary(self, tid: str) -> dict:
        """The summary statistics of task `tid` ({} when it has none yet; a unique prefix of
        a task id will do)."""
        tid = self.resolve(tid)
        rows = self._rows("SELECT summary FROM tasks WHERE tid = ?", (tid,))
        if not rows:
            raise StoreError(f"no task {tid!r} in {self.run_dir}")
        return json.loads(rows[0][0]) if rows[0][0] else {}

    def load(self, tid: str) -> Result:
        """The kept data of task `tid` as a `Result` (reads only that task's data: its file, or
        its row of table `blobs`).

        `tid` may be a unique prefix of a task id.

        Raises
        ------
        NoDataError
            When the task kept no bulk data (filtered out, failed or not finished yet).
        StoreError
            When there is no such task (or the prefix is ambiguous).
        """
        tid = self.resolve(tid)
        rows = self._rows("SELECT params, status, data_file FROM tasks WHERE tid = ?", (tid,))
        if not rows:
            raise StoreError(f"no task {tid!r} in {self.run_dir}")
        text, status, data_file = rows[0]
        if not data_file:
            why = ("its filter dropped the bulk data" if status == "finished"
                   else f"it is {status}")
            raise NoDataError(f"task {tid} has no kept data: {why}")
        if data_file == INLINE_DATA_FILE:  # small: stored inside the index
            source = (self._rows("SELECT npz FROM blobs WHERE tid = ?", (tid,)) or [[None]])[0][0]
            where = f"{self._index} table blobs"
        else:
            source = where = Path(data_file)
            source = where = source if source.is_absolute() else self.run_dir / source
        try:
            if source is None:
                raise ValueError("the data is missing")
            arrays = decode_arrays(source)
        except (OSError, ValueError) as err:
            raise StoreError(f"cannot read data of task {tid} ({where}): {err}") from None
        paths = {k: str(source) for k in arrays} if isinstance(source, Path) else None
        return Result.from_arrays(arrays, pm=dict(self._params(tid, text)), paths=paths)

    def history(self, tid: str) -> list:
        """Every failed or lost run of task `tid`, oldest first: dicts with the worker, the
        failure class and the reason ([] when it never failed)."""
        rows = self._rows("SELECT history FROM tasks WHERE tid = ?", (tid,))
        if not rows:
            raise StoreError(f"no task {tid!r} in {self.run_dir}")
        return json.loads(rows[0][0]) if rows[0][0] else []

    def failures(self):
        """Failed tasks grouped by reason: DataFrame reason, failure_class, count, tids."""
        import pandas as pd

        rows = self._rows("SELECT reason, failure_class, tid FROM tasks "
                          "WHERE status = 'failed' ORDER BY seq")
        groups: dict[tuple, list] = {}
        for reason, klass, tid in rows:
            groups.setdefault((reason or "", klass or ""), []).append(tid)
        records = [{"reason": r, "failure_class": k, "count": len(t), "tids": t}
                   for (r, k), t in groups.items()]
        df = pd.DataFrame(records, columns=["reason", "failure_class", "count", "tids"])
        return df.sort_values("count", ascending=False, kind="stable").reset_index(drop=True)

    def counts(self) -> dict[str, int]:
        """Number of tasks in each state."""
        return dict(self._rows("SELECT status, COUNT(*) FROM tasks GROUP BY status"))

    def meta(self, key: str | None = None, default=None):
        """All meta values as a dict, or the value under `key` (or `default`)."""
        if key is None:
            return {k: json.loads(v) for k, v in self._rows("SELECT key, value FROM meta")}
        rows = self._rows("SELECT value FROM meta WHERE key = ?", (key,))
        return json.loads(rows[0][0]) if rows else default

    def __len__(self):
        return self._rows("SELECT COUNT(*) FROM tasks")[0][0]
