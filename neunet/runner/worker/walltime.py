"""Owns a worker's allocation end (walltime): parsing it, telling it, draining before it.

`parse_walltime` reads ``--walltime`` (``4h``, ``90m``, ``3600``, ``1:30:00``, ``2-00:00:00``);
`allocation_end` adds the batch system's own end time (``SLURM_JOB_END_TIME``, epoch seconds)
and keeps the earlier. `WalltimeWorker` adds ``left_s`` to each ``request`` so the coordinator
gives it only tasks whose estimate (times a safety margin) fits, and at ``end - drain`` it stops
like on ctrl-c: hands back waiting tasks (no attempt counted), delivers, exits cleanly.
"""
from __future__ import annotations

import asyncio
import logging
import os
import re
import time

from neunet.runner.worker.worker import Worker

log = logging.getLogger("neunet.worker")

# Environment variable holding the SLURM job's end time (seconds since the epoch).
SLURM_END_ENV = "SLURM_JOB_END_TIME"
# Default seconds before the end at which a worker stops taking work: this fraction of its
# walltime, at most DRAIN_MAX_S.
DRAIN_FRACTION, DRAIN_MAX_S = 0.1, 120.0
# Unit suffix -> seconds.
_UNITS_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_walltime(text: str) -> float:
    """Seconds of a walltime: ``4h``, ``90m``, ``30s``, ``3600``, ``1:30:00``, ``2-00:00:00``.

    Raises ValueError with a one-line message on anything else.
    """
    t = str(text).strip().lower()
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd]?)", t)
    if m:
        seconds = float(m.group(1)) * _UNITS_S[m.group(2) or "s"]
    else:
        m = re.fullmatch(r"(?:(\d+)-)?(\d+):(\d{1,2})(?::(\d{1,2}))?", t)
        if not m:
            raise ValueError(f"--walltime {text!r}: expected e.g. 4h, 90m, 3600 or 1:30:00")
        days, a, b, c = (int(g) if g else 0 for g in m.groups())
        seconds = days * 86400 + (a * 3600 + b * 60 + c if m.group(4) else a * 3600 + b * 60)
    if seconds <= 0:
        raise ValueError(f"--walltime {text!r} must be positive")
    return seconds


def allocation_end(walltime: str | None, now_s: float | None = None, environ=None) -> float | None:
    """Epoch seconds at which this worker must be gone (None: no limit known)."""
    now_s = time.time() if now_s is None else now_s
    environ = os.environ if environ is None else environ
    ends = []
    if walltime:
        ends.append(now_s + parse_walltime(walltime))
    slurm = environ.get(SLURM_END_ENV, "").strip()
    if slurm.isdigit():
        ends.append(float(slurm))
    return min(ends) if ends else None


class WalltimeWorker(Worker):
    """A Worker that tells the coordinator its time left and drains before its end."""

    def __init__(self, *args, end_s: float, drain_s: float | None = None, **kw):
        super().__init__(*args, **kw)
        self.end_s = end_s
        total_s = max(0.0, end_s - time.time())
        self.drain_s = min(DRAIN_MAX_S, DRAIN_FRACTION * total_s) if drain_s is None else drain_s

    def send(self, msg: dict) -> None:
        """Send; a ``request`` carries ``left_s`` (seconds until the drain point)."""
        if msg.get("t") == "request":
            msg = dict(msg, left_s=max(0.0, self.end_s - self.drain_s - time.time()))
        super().send(msg)

    async def drain_at_end(self) -> None:
        """At ``end - drain`` stop taking work (like the first ctrl-c)."""
        await asyncio.sleep(max(0.0, self.end_s - self.drain_s - time.time()))
        if not self.stopping:
            log.info("allocation ends in %.0f s: no more tasks, delivering and exiting",
                     self.end_s - time.time())
            self.stop()
