"""Owns the dashboard's picture of a run directory: task rows read from index.sqlite (read-only).

`RunModel` works for any run directory, running or finished, filled by the coordinator or by
the Dask executor: it reads only the index, through read-only connections. It keeps, in
numpy columns, the tasks that started or closed (not the queued ones: memory follows progress)
with their state, worker, times, failure, summary statistics and the parameters that vary.
`refresh` brings it up to date cheaply: counts by state (from the state index), plus the rows
whose `finished` time is recent or that are running; everything is read again only at the
start, when a new column appears, when a parameter thought constant varies, or when the counts
show a row was missed. One thread at a time may use a model (the dashboard server gives it a
thread of its own).
"""
from __future__ import annotations

import json
import math
import sqlite3
import time
from pathlib import Path

import numpy as np

from neunet.store.npz import StoreError
from neunet.store.schema import BUSY_TIMEOUT_S, INDEX_NAME, PARAM_PREFIX, STAT_PREFIX

# Task states of a task that runs on a worker, and of one that waits for one.
RUNNING = ("simulating", "filtering", "pulling")
WAITING = ("not-assigned", "assigned")
# Seconds before the previous read that the next incremental read goes back (journal lag).
OVERLAP_S = 5.0
# Columns read for every kept task, in this order (then failure_class, reason, p:/s: columns).
BASE_COLUMNS = ("tid", "status", "worker", "started", "finished", "real_s")
# Base columns holding text (the others are UNIX seconds or durations).
TEXT_COLUMNS = ("tid", "status", "worker")
# Seconds of history of the finished count used for the tasks/s figure.
RATE_WINDOW_S = 10.0
# Tasks whose parameters (JSON) are read, spread over the run, to find those that vary before
# the finished tasks show it.
SAMPLE_TASKS = 2000
# Characters of a failure's reason kept (its first line).
REASON_CHARS = 300


def connect(index: Path) -> sqlite3.Connection:
    """A read-only connection to a run's index (StoreError when it cannot be read)."""
    try:
        db = sqlite3.connect(f"{Path(index).resolve().as_uri()}?mode=ro", uri=True,
                             timeout=BUSY_TIMEOUT_S, check_same_thread=False)
        db.execute("SELECT 1 FROM tasks LIMIT 1")
    except sqlite3.Error as err:
        raise StoreError(f"cannot read {index}: {err}") from None
    return db


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def finite(value):
    """`value` as a JSON-safe number: NaN and infinities become None."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _array(values, numeric: bool) -> np.ndarray:
    """A float64 array (None -> NaN, text -> NaN) or an object array of the values."""
    if not numeric:
        return np.array(values, dtype=object)
    try:
        return np.array(values, dtype=np.float64)
    except (TypeError, ValueError):
        return np.array([v if isinstance(v, (int, float)) else np.nan for v in values],
                        dtype=np.float64)


class _Column:
    """A growable numpy column: float64 (NaN when unknown) or object (None)."""

    def __init__(self, data: np.ndarray):
        self.data = data
        self.numeric = data.dtype == np.float64

    @classmethod
    def empty(cls, numeric: bool, size: int = 0):
        """A column of `size` unknown values."""
        return cls(np.full(size, np.nan) if numeric else np.full(size, None, dtype=object))

    def set(self, i: int, value) -> None:
        """Store `value` at row `i`, growing the column when needed."""
        if i >= len(self.data):
            grown = _Column.empty(self.numeric, max(64, 2 * len(self.data), i + 1)).data
            grown[:len(self.data)] = self.data
            self.data = grown
        if self.numeric:
            value = float(value) if isinstance(value, (int, float)) else np.nan
        self.data[i] = value


class RunModel:
    """The tasks of a run directory that started or closed, kept up to date by `refresh`.

    Parameters
    ----------
    run_dir : str or Path
        A run directory (with its index.sqlite).
    """

    def __init__(self, run_dir):
        self.run_dir = Path(run_dir)
        self.index = self.run_dir / INDEX_NAME
        if not self.index.is_file():
            raise StoreError(f"{self.run_dir} is not a run directory (no {INDEX_NAME})")
        self.rev = 0                      # bumped whenever a refresh changed something
        self.counts: dict[str, int] = {}  # state -> number of tasks (all tasks)
        self.meta: dict = {}              # the run's meta table (read at each full read)
        self._columns: list[str] = []     # p:/s: columns of the index at the last full read
        self._done_log: list = []         # (monotonic s, finished count) samples
        self._reset()

    def _reset(self) -> None:
        self.tids: list[str] = []
        self.pos: dict[str, int] = {}
        self.cols = {name: _Column.empty(name not in TEXT_COLUMNS) for name in BASE_COLUMNS[1:]}
        self.params: dict[str, _Column] = {}   # varying parameters (p: columns)
        self.stats: dict[str, _Column] = {}    # summary statistics (s: columns)
        self.constant: dict[str, object] = {}  # parameters equal in every finished task
        self.failures: dict[str, tuple] = {}   # tid -> (failure_class, first line of reason)
        self._read_until = None                # UNIX time of the last read's start
        self._new_variation = False

    # ------------------------------------------------------------ reading
    def refresh(self) -> bool:
        """Read what changed since the last call; return whether anything did."""
        db = connect(self.index)
        try:
            db.execute("BEGIN")  # one snapshot: the counts and the rows agree
            return self._refresh(db)
        finally:
            db.close()

    def _refresh(self, db) -> bool:
        counts = dict(db.execute("SELECT status, COUNT(*) FROM tasks GROUP BY status"))
        columns = [r[1] for r in db.execute("PRAGMA table_info(tasks)")
                   if r[1].startswith((PARAM_PREFIX, STAT_PREFIX))]
        changed = counts != self.counts
        self.counts = counts
        self._log_done(counts.get("finished", 0))
        if self._read_until is None or columns != self._columns:
            self._full_read(db, columns)
            return True
        now = time.time()
        rows = self._select(db, columns, "WHERE finished >= ? OR status IN (?, ?, ?, ?)",
                            (self._read_until - OVERLAP_S, "assigned", *RUNNING))
        self._read_until = now
        self._new_variation = False
        changed |= self._merge(rows, columns)
        changed |= self._requeued({r[0] for r in rows})
        if self._missed() or self._new_variation:
            self._full_read(db, columns)
            return True
        if changed:
            self.rev += 1
        return changed

    def _requeued(self, seen: set) -> bool:
        """Rows the model holds as assigned or running that the last read did not return went
        back to the queue (a lost worker): mark them so."""
        status = self.column("status")
        gone = [i for i in np.flatnonzero(np.isin(status, ("assigned",) + RUNNING))
                if self.tids[i] not in seen]
        for i in gone:
            self.cols["status"].set(int(i), "not-assigned")
        return bool(gone)

    def _missed(self) -> bool:
        """Whether the model holds another number of closed tasks than the index."""
        status = self.column("status")
        closed = int(np.count_nonzero((status == "finished") | (status == "failed")))
        return closed != self.counts.get("finished", 0) + self.counts.get("failed", 0)

    def _log_done(self, n_done: int) -> None:
        now = time.monotonic()
        self._done_log.append((now, n_done))
        while len(self._done_log) > 2 and now - self._done_log[1][0] > RATE_WINDOW_S:
            self._done_log.pop(0)

    def _select(self, db, extra: list, where: str, args=()) -> list:
        names = list(BASE_COLUMNS) + ["failure_class", "reason"] + extra
        sql = f"SELECT {', '.join(map(_quote, names))} FROM tasks {where}"
        return db.execute(sql, args).fetchall()

    def _full_read(self, db, columns: list) -> None:
        """Read every started or closed task again."""
        self._reset()
        self._columns = columns
        self._read_until = time.time()
        self.meta = {k: json.loads(v) for k, v in db.execute("SELECT key, value FROM meta")}
        varying = self._find_varying(db, [c for c in columns if c.startswith(PARAM_PREFIX)])
        stats = [c for c in columns if c.startswith(STAT_PREFIX)]
        rows = self._select(db, varying + stats, "WHERE status != 'not-assigned' ORDER BY seq")
        self.rev += 1
        if not rows:
            self.stats = {c[2:]: _Column.empty(True) for c in stats}
            self.params = {c[2:]: _Column.empty(True) for c in varying}
            return
        data = list(zip(*rows))
        self.tids = list(data[0])
        self.pos = dict(zip(self.tids, range(len(rows))))
        for name, values in zip(BASE_COLUMNS[1:], data[1:len(BASE_COLUMNS)]):
            self.cols[name] = _Column(_array(values, name not in TEXT_COLUMNS))
        first = len(BASE_COLUMNS) + 2
        for name, values in zip(varying + stats, data[first:]):
            numeric = name.startswith(STAT_PREFIX) or all(
                isinstance(v, (int, float)) or v is None for v in values)
            target = self.stats if name.startswith(STAT_PREFIX) else self.params
            target[name[2:]] = _Column(_array(values, numeric))
        for row in rows:
            if row[1] == "failed":
                self._note_failure(row)

    def _find_varying(self, db, names: list) -> list:
        """The p: columns whose value differs between finished tasks or in a sample of all
        tasks' parameters (the others' values go to `constant`)."""
        if not names:
            return []
        sampled = _sample_varying(db)
        cols = ", ".join(map(_quote, names))
        first = db.execute(f"SELECT {cols} FROM tasks WHERE status = 'finished' "
                           "LIMIT 1").fetchone()
        if first is None:
            return []
        probe = ", ".join(f"MAX({_quote(n)} IS NOT ?)" for n in names)
        differs = db.execute(f"SELECT {probe} FROM tasks WHERE status = 'finished'",
                             first).fetchone()
        differs = [bool(d) or n[len(PARAM_PREFIX):] in sampled for n, d in zip(names, differs)]
        for name, value, varies in zip(names, first, differs):
            if not varies:
                self.constant[name[2:]] = value
        return [n for n, varies in zip(names, differs) if varies]

    def _note_failure(self, row) -> None:
        reason = (row[7] or "").strip().splitlines()[:1] or [""]
        self.failures[row[0]] = (row[6] or "", reason[0][:REASON_CHARS])

    def _merge(self, rows, names: list) -> bool:
        """Put rows (as `_select` returns them) into the columns; return whether any changed."""
        changed = False
        for row in rows:
            tid = row[0]
            i = self.pos.get(tid)
            if i is None:
                i = self.pos[tid] = len(self.tids)
                self.tids.append(tid)
            elif self._same(i, row):
                continue
            changed = True
            for name, value in zip(BASE_COLUMNS[1:], row[1:len(BASE_COLUMNS)]):
                self.cols[name].set(i, value)
            self.failures.pop(tid, None)
            if row[1] == "failed":
                self._note_failure(row)
            self._merge_values(i, row, names)
        return changed

    def _same(self, i: int, row) -> bool:
        c = self.cols
        return (c["status"].data[i] == row[1] and c["worker"].data[i] == row[2]
                and _eq(c["started"].data[i], row[3]) and _eq(c["finished"].data[i], row[4]))

    def _merge_values(self, i: int, row, names: list) -> None:
        values = dict(zip(names, row[len(BASE_COLUMNS) + 2:]))
        for key, col in self.stats.items():
            col.set(i, values.get(STAT_PREFIX + key))
        for key, col in self.params.items():
            col.set(i, values.get(PARAM_PREFIX + key))
        if row[1] != "finished":
            return
        for name, value in values.items():
            key = name[len(PARAM_PREFIX):]
            if not name.startswith(PARAM_PREFIX) or key in self.params:
                continue
            if key in self.constant and value != self.constant[key]:
                self._new_variation = True  # a parameter thought constant varies
            elif key not in self.constant and value is not None:
                self.constant[key] = value

    # ------------------------------------------------------------ figures
    def n(self) -> int:
        """Number of kept rows."""
        return len(self.tids)

    def column(self, name: str) -> np.ndarray:
        """The kept rows' values of a base column, a statistic or a varying parameter."""
        n = len(self.tids)
        if name in self.cols:
            return self.cols[name].data[:n]
        if name in self.stats:
            return self.stats[name].data[:n]
        return self.params[name].data[:n]

    def total(self) -> int:
        """Number of tasks in the run."""
        return sum(self.counts.values())

    def progress(self) -> dict:
        """Counts of finished, failed, running and queued tasks, and the total."""
        c = self.counts
        return {"total": self.total(), "finished": c.get("finished", 0),
                "failed": c.get("failed", 0), "running": sum(c.get(s, 0) for s in RUNNING),
                "queued": sum(c.get(s, 0) for s in WAITING)}

    def rate(self) -> float | None:
        """Tasks finished per second: over the last seconds while running, else overall."""
        log = self._done_log
        if self.progress()["running"] and len(log) >= 2 and log[-1][0] - log[0][0] >= 1.0:
            return (log[-1][1] - log[0][1]) / (log[-1][0] - log[0][0])
        span = self.span_s()
        done = self.counts.get("finished", 0)
        return done / span if span and done else None

    def span_s(self) -> float | None:
        """Seconds from the first start to the last finish (to now while tasks run)."""
        started = self.column("started")
        if not np.isfinite(started).any():
            return None
        finished = self.column("finished")
        running = self.progress()["running"] or not np.isfinite(finished).any()
        end = time.time() if running else float(np.nanmax(finished))
        return max(0.0, end - float(np.nanmin(started)))

    def failure_groups(self, limit: int = 20) -> list[dict]:
        """Failed tasks grouped by class and reason, largest group first."""
        groups: dict[tuple, list] = {}
        for tid, key in self.failures.items():
            groups.setdefault(key, []).append(tid)
        out = [{"failure_class": k[0], "reason": k[1], "count": len(t), "tids": t[:5]}
               for k, t in groups.items()]
        out.sort(key=lambda g: -g["count"])
        return out[:limit]

    def worker_rows(self) -> list[dict]:
        """Per worker (as the index names them): tasks done, failed, running, last activity."""
        workers = self.column("worker")
        if len(workers) == 0:
            return []
        status = self.column("status")
        known = np.array([w is not None for w in workers], dtype=bool)
        names, inverse = np.unique(workers[known].astype(str), return_inverse=True)
        status = status[known]
        last = np.fmax(self.column("started"), self.column("finished"))[known]
        latest = np.full(len(names), -np.inf)
        np.fmax.at(latest, inverse, np.nan_to_num(last, nan=-np.inf))

        def count(mask):
            return np.bincount(inverse, weights=mask, minlength=len(names)).astype(int)
        done, failed = count(status == "finished"), count(status == "failed")
        busy = count(np.isin(status, RUNNING))
        return [{"name": str(name), "done": int(done[k]), "failed": int(failed[k]),
                 "busy": int(busy[k]), "last_s": finite(latest[k])}
                for k, name in enumerate(names)]


def _sample_varying(db) -> set:
    """Names of the parameters that differ within `SAMPLE_TASKS` tasks spread over the run."""
    n = db.execute("SELECT MAX(seq) FROM tasks").fetchone()[0] or 0
    step = max(1, n // SAMPLE_TASKS)
    seen: dict = {}
    for (text,) in db.execute("SELECT params FROM tasks WHERE seq % ? = 0 LIMIT ?",
                              (step, 2 * SAMPLE_TASKS)):
        for key, value in json.loads(text).items():
            seen.setdefault(key, set()).add(json.dumps(value, sort_keys=True))
    return {k for k, v in seen.items() if len(v) > 1}


def _eq(a, b) -> bool:
    if b is None:
        return a is None or (isinstance(a, float) and math.isnan(a))
    return a == b
