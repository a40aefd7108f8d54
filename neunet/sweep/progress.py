"""Owns the progress display of a sweep run from Python (`neunet.run`, `lab(...).start()`): a
tqdm bar (``tqdm.auto``: a widget in Jupyter, a text bar in a terminal) with the finished,
failed and running counts, and the line naming the sweep's dashboard.

`RunWatcher` follows a run directory from outside the process that runs the sweep: it polls
the index's counts (read-only) and the ``dashboard`` meta value the coordinator writes, so
any front end that starts a coordinator can show the same bar and URL.
"""
from __future__ import annotations

import sqlite3
import sys
import time

# Seconds between two looks at the run directory.
POLL_S = 0.5
# Meta key under which a coordinator records its dashboard: {"url", "pid"}.
DASHBOARD_META = "dashboard"


class SweepProgress:
    """A tqdm bar of a sweep: n = closed tasks (finished + failed) of `total`.

    Parameters
    ----------
    total : int
        Tasks in the sweep.
    desc : str
        The bar's label.
    disable : bool, optional
        No bar at all (tqdm's own default: shown).
    """

    def __init__(self, total: int, desc: str = "sweep", disable: bool | None = False):
        from tqdm.auto import tqdm
        self.bar = tqdm(total=int(total), desc=desc, unit="task", disable=disable,
                        dynamic_ncols=True, smoothing=0.1)
        self.counts: dict | None = None

    def update(self, counts: dict) -> None:
        """Show `counts` (finished, failed, running; total when it changed)."""
        self.counts = counts
        total = counts.get("total")
        if total is not None and total != self.bar.total:
            self.bar.total = int(total)
        closed = int(counts.get("finished", 0)) + int(counts.get("failed", 0))
        self.bar.update(closed - self.bar.n)
        self.bar.set_postfix(finished=counts.get("finished", 0), failed=counts.get("failed", 0),
                             running=counts.get("running", 0), refresh=True)

    def close(self) -> None:
        """Draw the last figures and close the bar."""
        self.bar.close()


def counts_of(run_dir) -> dict | None:
    """Finished, failed, running, queued and total tasks of a run directory (None before its
    index exists or while it cannot be read)."""
    from neunet.store import StoreError, open_run
    try:
        by_state = open_run(run_dir).counts()
    except (StoreError, sqlite3.Error):  # not there yet, or its tables being created
        return None
    running = sum(by_state.get(s, 0) for s in ("simulating", "filtering", "pulling"))
    total = sum(by_state.values())
    finished, failed = by_state.get("finished", 0), by_state.get("failed", 0)
    return {"finished": finished, "failed": failed, "running": running,
            "queued": total - finished - failed - running, "total": total}


def dashboard_url(run_dir, pid: int | None = None) -> str | None:
    """The dashboard URL a coordinator recorded in the run directory (the one of process
    `pid` when given), or None."""
    from neunet.store import StoreError, open_run
    try:
        value = open_run(run_dir).meta(DASHBOARD_META)
    except (StoreError, sqlite3.Error):
        return None
    if not isinstance(value, dict) or (pid is not None and value.get("pid") != pid):
        return None
    return value.get("url")


class RunWatcher:
    """Follow a sweep run by another process: a progress bar and its dashboard's URL.

    Parameters
    ----------
    run_dir : str or Path
        The sweep's run directory.
    total : int
        Tasks in the sweep.
    pid : int, optional
        The coordinator's process id (only its dashboard URL is shown).
    progress : bool or callable
        Show a tqdm bar (True), nothing (False), or call this with each new counts dict.
    stream : file, optional
        Where the URL line goes (default stdout: a notebook shows it under the cell).
    """

    def __init__(self, run_dir, total: int, pid: int | None = None, progress: bool = True,
                 stream=None):
        self.run_dir, self.pid = run_dir, pid
        self.bar = SweepProgress(total) if progress is True else None
        self.callback = progress if callable(progress) else None
        self._counts = None
        self.stream = stream or sys.stdout
        self.url = None
        self._last_s = -float("inf")

    def poll(self, force: bool = False) -> None:
        """Look at the run directory (at most every `POLL_S` unless `force`)."""
        now = time.monotonic()
        if not force and now - self._last_s < POLL_S:
            return
        self._last_s = now
        if self.url is None:
            self.url = dashboard_url(self.run_dir, self.pid)
            if self.url is not None:
                self.stream.write(f"dashboard: {self.url}\n")
                self.stream.flush()
        counts = counts_of(self.run_dir)
        if counts is None or counts == self._counts:
            return
        self._counts = counts
        if self.bar is not None:
            self.bar.update(counts)
        if self.callback is not None:
            self.callback(counts)

    def close(self) -> None:
        """Last look, then close the bar."""
        self.poll(force=True)
        if self.bar is not None:
            self.bar.close()
