"""The coordinator's live progress: a redrawn status line on a terminal, log lines otherwise.

Shows done/failed/running/queued, each worker's busy slots, elapsed time, tasks/s and, while
workers are connected, an ETA from the time_cost estimates of the open tasks, scaled by the
measured/estimated ratio of the finished ones. The run ends with one summary line.
Each failed task is printed as soon as it fails: its tid, class, the parameters in which it
differs from the sweep's base (the most common value of each parameter) and its reason.
"""
from __future__ import annotations

import json
import logging
import time
from collections import Counter

from neunet.runner.status import StatusLine, progress_text, summary_text

log = logging.getLogger("neunet.coordinator")

# Seconds of recent progress over which tasks/s is measured.
RATE_WINDOW_S = 10.0
# Tasks sampled to find the sweep's base parameters (most common value of each).
BASE_SAMPLE = 1000
# Parameters left out of a failure's differences (derived per task, always differ).
NOT_SHOWN = ("seed",)
# Characters of a failure's reason shown on its line (its first line only).
REASON_CHARS = 300
# Seconds between checks for newly failed tasks to print.
FAILURE_POLL_S = 0.5


def base_params(pms) -> dict:
    """The most common value of each parameter over (a sample of) the sweep's tasks."""
    pms = list(pms)[:BASE_SAMPLE]
    counts: dict = {}
    for pm in pms:
        for key, value in pm.items():
            counts.setdefault(key, Counter())[json.dumps(value, sort_keys=True, default=str)] += 1
    return {key: c.most_common(1)[0][0] for key, c in counts.items()}


def failure_line(tid: str, kind: str, reason: str, pm: dict | None, base: dict) -> str:
    """``task TID failed (class): key=value ...: first line of the reason``."""
    diffs = []
    for key, value in (pm or {}).items():
        text = json.dumps(value, sort_keys=True, default=str)
        if key not in NOT_SHOWN and base.get(key) != text:
            diffs.append(f"{key}={text}")
    first = (reason or "").strip().splitlines()[0:1] or [""]
    return (f"task {tid} failed ({kind}): {' '.join(diffs) or 'base parameters'}: "
            f"{first[0][:REASON_CHARS]}")


def status_line(coord, total: int, rate: float | None = None) -> str:
    """One line describing the sweep's progress: counts, workers, elapsed, tasks/s and, while
    some worker is connected, an ETA (time_cost estimates of the open tasks, scaled by the
    measured/estimated ratio of the finished ones, over the live slots)."""
    sched = coord.sched
    c = sched.counts()
    slots = sum(w.slots for w in sched.workers.values() if w.alive)
    eta_s = None
    if slots:
        eta_s = sched.open_estimate_s() * sched.time_scale() / slots
    workers = " ".join(f"{name}:{sum(v for k, v in st.items() if k != 'assigned')}/{n}"
                       for name, n, st in sched.worker_view()[:8])
    counts = {"finished": c["finished"], "failed": c["failed"], "running": c["running"],
              "queued": c["queued"] + c["prefetched"], "total": total}
    paused = f"  PAUSED ({coord.disk_full})" if getattr(coord, "disk_full", None) else ""
    return progress_text(counts, time.monotonic() - coord.started_s, rate, eta_s,
                         f"{c['workers']} [{workers}]") + paused


class Progress:
    """The coordinator's terminal output: failures as they happen, the status line (never
    mixed with log lines: `neunet.runner.status.StatusLine`), and the closing summary.

    Parameters
    ----------
    coord : Coordinator
    total : int
        Tasks in the sweep.
    stream : file, optional
        Default stderr.
    base : dict or callable, optional
        The sweep's base parameters (or a function computing them at the first failure).
    run_dir : str, optional
        Named by the summary (``open_run(...)``).
    resume : str, optional
        What to do to resume, said by the summary after ctrl-c.
    quiet : bool
        No status line and no summary (failures are still shown): `neunet.lab` without
        ``v`` in its gen_cmd.
    """

    def __init__(self, coord, total: int, stream=None, base=None, run_dir=None, resume=None,
                 quiet=False):
        self.coord, self.total, self.quiet = coord, total, quiet
        self._base = base  # dict, or a function computing it at the first failure (start-up)
        self._n_reported = 0
        self.line = StatusLine(stream).install()
        self.stream, self.tty = self.line.stream, self.line.tty
        self.run_dir, self.resume = run_dir, resume
        self._done_log: list = []  # (monotonic s, finished) of recent updates

    def period_s(self) -> float:
        """Seconds between updates."""
        return self.line.period_s

    @property
    def base(self) -> dict:
        """The sweep's base parameters (computed on first use when given as a function)."""
        if callable(self._base):
            self._base = self._base()
        return self._base or {}

    def report_failures(self) -> None:
        """Print every task that failed since the last call (one line each)."""
        sched = self.coord.sched
        for tid, kind, reason in sched.failure_log[self._n_reported:]:
            task = sched.tasks.get(tid)
            line = failure_line(tid, kind, reason, task.pm if task else None, self.base)
            if self.tty:
                self.line.print_above(line + "\n")
            else:
                log.warning("%s", line)
        self._n_reported = len(sched.failure_log)

    def rate(self) -> float | None:
        """Tasks finished per second over the last `RATE_WINDOW_S`."""
        now, done = time.monotonic(), self.coord.sched.n_finished
        self._done_log.append((now, done))
        while len(self._done_log) > 2 and now - self._done_log[1][0] > RATE_WINDOW_S:
            self._done_log.pop(0)
        (t0, n0) = self._done_log[0]
        return (done - n0) / (now - t0) if now - t0 >= 0.5 else None

    def update(self) -> None:
        """Redraw the line (terminal) or log it (otherwise); nothing when quiet."""
        if self.quiet:
            return
        line = status_line(self.coord, self.total, self.rate())
        if self.tty:
            self.line.show(line)
        else:
            log.info("%s", line)

    def finish(self, interrupted: bool = False) -> None:
        """Replace the status line by the one-line summary of the run (none when quiet)."""
        if self.quiet:
            self.line.finish(None)
            return
        sched = self.coord.sched
        counts = {"finished": sched.n_finished, "failed": sched.n_failed, "total": self.total}
        wall_s = time.monotonic() - self.coord.started_s
        self.line.finish(summary_text(counts, wall_s, self.run_dir, interrupted, self.resume))

    async def run(self) -> None:
        """Print failures within `FAILURE_POLL_S` and the status line on its period, until
        cancelled."""
        import asyncio
        last_s = time.monotonic()
        while True:
            await asyncio.sleep(min(FAILURE_POLL_S, self.period_s()))
            self.report_failures()
            if time.monotonic() - last_s >= self.period_s():
                last_s = time.monotonic()
                self.update()
