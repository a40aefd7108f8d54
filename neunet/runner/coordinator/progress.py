"""The coordinator's live progress: a redrawn status line on a terminal, log lines otherwise.

Shows done/failed/running/queued, each worker's busy slots, and an ETA from the time_cost
estimates of the open tasks, scaled by the measured/estimated ratio of the finished ones.
Each failed task is printed as soon as it fails: its tid, class, the parameters in which it
differs from the sweep's base (the most common value of each parameter) and its reason.
"""
from __future__ import annotations

import json
import logging
import sys
import time
from collections import Counter

log = logging.getLogger("neunet.coordinator")

# Seconds between redraws on a terminal, and between log lines otherwise.
TTY_PERIOD_S, LOG_PERIOD_S = 0.5, 10.0
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


def _fmt_s(seconds: float) -> str:
    seconds = round(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def status_line(coord, total: int) -> str:
    """One line describing the sweep's progress (see the module docstring)."""
    sched = coord.sched
    c = sched.counts()
    slots = sum(w.slots for w in sched.workers.values() if w.alive) or 1
    eta_s = sched.open_estimate_s() * sched.time_scale() / slots
    workers = " ".join(f"{name}:{sum(v for k, v in st.items() if k != 'assigned')}/{n}"
                       for name, n, st in sched.worker_view()[:8])
    paused = f"  PAUSED ({coord.disk_full})" if getattr(coord, "disk_full", None) else ""
    return (f"done {c['finished']}/{total}  failed {c['failed']}  running {c['running']}  "
            f"queued {c['queued']}  workers {c['workers']} [{workers}]  ETA {_fmt_s(eta_s)}"
            f"{paused}")


class Progress:
    """Periodic progress output for a coordinator."""

    def __init__(self, coord, total: int, stream=None, base=None):
        self.coord, self.total = coord, total
        self._base = base  # dict, or a function computing it at the first failure (start-up)
        self._n_reported = 0
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last = 0.0

    def period_s(self) -> float:
        """Seconds between updates."""
        return TTY_PERIOD_S if self.tty else LOG_PERIOD_S

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
                self.stream.write("\r\x1b[K" + line + "\n")
                self.stream.flush()
            else:
                log.warning("%s", line)
        self._n_reported = len(sched.failure_log)

    def update(self, final: bool = False) -> None:
        """Redraw the line (terminal) or log it (otherwise, and at the end)."""
        line = status_line(self.coord, self.total)
        if self.tty:
            self.stream.write("\r\x1b[K" + line + ("\n" if final else ""))
            self.stream.flush()
        else:
            log.info("%s", line)
        self._last = time.monotonic()

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
