"""The coordinator's live progress: a redrawn status line on a terminal, log lines otherwise.

Shows done/failed/running/queued, each worker's busy slots, and an ETA from the time_cost
estimates of the open tasks, scaled by the measured/estimated ratio of the finished ones.
"""
from __future__ import annotations

import logging
import sys
import time

log = logging.getLogger("neunet.coordinator")

# Seconds between redraws on a terminal, and between log lines otherwise.
TTY_PERIOD_S, LOG_PERIOD_S = 0.5, 10.0


def _fmt_s(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def status_line(coord, total: int) -> str:
    """One line describing the sweep's progress (see the module docstring)."""
    sched = coord.sched
    c = sched.counts()
    slots = sum(w.slots for w in sched.workers.values() if w.alive) or 1
    scale = coord.real_s_total / coord.est_s_done if coord.est_s_done > 0 else 1.0
    eta_s = sched.open_estimate_s() * scale / slots
    workers = " ".join(f"{name}:{sum(v for k, v in st.items() if k != 'assigned')}/{n}"
                       for name, n, st in sched.worker_view()[:8])
    return (f"done {c['finished']}/{total}  failed {c['failed']}  running {c['running']}  "
            f"queued {c['queued']}  workers {c['workers']} [{workers}]  ETA {_fmt_s(eta_s)}")


class Progress:
    """Periodic progress output for a coordinator."""

    def __init__(self, coord, total: int, stream=None):
        self.coord, self.total = coord, total
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last = 0.0

    def period_s(self) -> float:
        """Seconds between updates."""
        return TTY_PERIOD_S if self.tty else LOG_PERIOD_S

    def update(self, final: bool = False) -> None:
        """Redraw the line (terminal) or log it (otherwise, and at the end)."""
        line = status_line(self.coord, self.total)
        if self.tty:
            self.stream.write("\r\x1b[K" + line + ("\n" if final else ""))
            self.stream.flush()
        else:
            log.info("%s", line)
        self._last = time.monotonic()
