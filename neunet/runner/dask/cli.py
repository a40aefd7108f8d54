"""Owns the coordinator's ``--dask ADDRESS`` mode: run_on_dask with one-line errors and progress.

``python -m neunet.coordinator TASKS.py --dask tcp://scheduler:8786`` loads TASKS.py as
usual, then calls `main_dask` instead of serving its own workers. Exit status as the
coordinator's: 0 every task finished, 1 some failed, 2 bad usage or unreachable scheduler
(one line on stderr), 130 stopped by ctrl-c (run the same command again to resume).
"""
from __future__ import annotations

import sys
import time

from neunet.runner.dask.executor import CONNECT_TIMEOUT_S, DaskNotInstalled, run_on_dask
from neunet.runner.exits import EXIT_INTERRUPTED
from neunet.runner.status import StatusLine, progress_text, summary_text


class DaskProgress:
    """Progress callback for `run_on_dask`: the shared status line (redrawn on a terminal, a
    plain line per period otherwise) and, at the end, the one-line summary.

    Parameters
    ----------
    stream : file, optional
        Where to write (default stderr).
    run_dir : str, optional
        Named by the summary.
    """

    def __init__(self, stream=None, run_dir=None):
        self.line = StatusLine(stream)
        self.run_dir = run_dir
        self.started_s = time.monotonic()
        self.counts: dict | None = None

    def text(self, counts: dict) -> str:
        """One status line from `run_on_dask`'s counts."""
        elapsed = time.monotonic() - self.started_s
        rate = counts["finished"] / elapsed if counts["finished"] and elapsed > 0 else None
        return "dask: " + progress_text(counts, elapsed, rate)

    def __call__(self, counts: dict) -> None:
        self.counts = counts
        if self.line.due():
            self.line.show(self.text(counts))

    def close(self, interrupted: bool = False) -> None:
        """Replace the status line by the summary of the run."""
        if self.counts is None:
            self.line.finish()
            return
        self.line.finish(summary_text(self.counts, time.monotonic() - self.started_s,
                                      self.run_dir, interrupted))


def main_dask(tasks, filter_spec, run_dir, address, retries: int = 2, stream=None,
              connect_timeout_s: float = CONNECT_TIMEOUT_S, dashboard: str | bool = False,
              token: bytes | None = None) -> int:
    """Run a sweep on a Dask cluster for the command line; return the exit status.

    Parameters
    ----------
    tasks : list
        Task objects or the coordinator's rows (tid, pm, est_cost, est_s).
    filter_spec : dict or None
        The compiled filter.
    run_dir : str, path or neunet.store.RunStore
        The run directory (or the coordinator's open writer for it).
    address : str
        The Dask scheduler's address (``tcp://host:8786``; ``dask://`` is taken as tcp).
    retries : int
        Extra attempts of a failing task.
    stream : file, optional
        Where progress and errors go (default stderr).
    connect_timeout_s : float
        How long to keep trying to reach the scheduler.
    dashboard : str or bool
        Serve neunet's dashboard of the run directory from a thread while the sweep runs:
        ``[HOST:]PORT``, True (the default place) or False (none).
    token : bytes, optional
        The sweep's token (the dashboard's login beyond loopback).

    Returns
    -------
    int
        0, 1, 2 or 130 (see the module docstring).
    """
    stream = stream or sys.stderr
    if isinstance(address, str) and address.startswith("dask://"):
        address = "tcp://" + address[len("dask://"):]
    where = getattr(run_dir, "run_dir", run_dir)
    progress = DaskProgress(stream, where)
    stop = _dashboard(where, dashboard, token, stream)
    try:
        status = run_on_dask(tasks, filter_spec, run_dir, address, retries=retries,
                             progress=progress, connect_timeout_s=connect_timeout_s)
    except DaskNotInstalled as exc:
        return _error(stream, str(exc))
    except (OSError, ValueError) as exc:  # unreachable scheduler, bad address
        return _error(stream, f"--dask {address}: {exc}")
    except KeyboardInterrupt:
        progress.close(interrupted=True)
        return EXIT_INTERRUPTED
    finally:
        stop()
    progress.close()
    return status


def _dashboard(run_dir, where, token, stream):
    """Start the run directory's dashboard in a thread (when asked); its stop function."""
    if not where:
        return lambda: None
    import os
    if not os.path.exists(os.path.join(os.fspath(run_dir), "index.sqlite")):
        from neunet.store import RunStore
        RunStore(run_dir).close()  # the dashboard reads the index: create it first
    from neunet.runner.dashboard.embed import serve_in_thread
    _, stop = serve_in_thread(run_dir, where if isinstance(where, str) else None, token,
                              stream=stream)
    return stop


def _error(stream, message: str) -> int:
    """Write one error line; return the usage exit status."""
    stream.write(f"neunet.coordinator: error: {message.splitlines()[0] if message else ''}\n")
    return 2
