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

# Seconds between redraws on a terminal, and between plain lines otherwise.
TTY_PERIOD_S, LOG_PERIOD_S = 0.5, 10.0


class DaskProgress:
    """Progress callback for `run_on_dask`: a redrawn line on a terminal, else a line per period.

    Parameters
    ----------
    stream : file, optional
        Where to write (default stderr).
    """

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.period_s = TTY_PERIOD_S if self.tty else LOG_PERIOD_S
        self._last_s = -float("inf")
        self.counts: dict | None = None

    @staticmethod
    def line(counts: dict) -> str:
        """One status line from `run_on_dask`'s counts."""
        return (f"dask: done {counts['finished']}/{counts['total']}  failed {counts['failed']}"
                f"  running {counts['running']}  queued {counts['queued']}")

    def __call__(self, counts: dict) -> None:
        self.counts = counts
        now_s = time.monotonic()
        if now_s - self._last_s >= self.period_s:
            self._write(self.line(counts), final=False)
            self._last_s = now_s

    def close(self) -> None:
        """Write the final figures."""
        if self.counts is not None:
            self._write(self.line(self.counts), final=True)

    def _write(self, text: str, final: bool) -> None:
        if self.tty:
            self.stream.write("\r\x1b[K" + text + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


def main_dask(tasks, filter_spec, run_dir, address, retries: int = 2, stream=None,
              connect_timeout_s: float = CONNECT_TIMEOUT_S) -> int:
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

    Returns
    -------
    int
        0, 1, 2 or 130 (see the module docstring).
    """
    stream = stream or sys.stderr
    if isinstance(address, str) and address.startswith("dask://"):
        address = "tcp://" + address[len("dask://"):]
    progress = DaskProgress(stream)
    try:
        status = run_on_dask(tasks, filter_spec, run_dir, address, retries=retries,
                             progress=progress, connect_timeout_s=connect_timeout_s)
    except DaskNotInstalled as exc:
        return _error(stream, str(exc))
    except (OSError, ValueError) as exc:  # unreachable scheduler, bad address
        return _error(stream, f"--dask {address}: {exc}")
    except KeyboardInterrupt:
        progress.close()
        stream.write("neunet.coordinator: stopped; run the same command again to resume\n")
        return EXIT_INTERRUPTED
    progress.close()
    return status


def _error(stream, message: str) -> int:
    """Write one error line; return the usage exit status."""
    stream.write(f"neunet.coordinator: error: {message.splitlines()[0] if message else ''}\n")
    return 2
