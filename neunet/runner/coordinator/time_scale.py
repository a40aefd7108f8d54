"""Owns the measured/estimated time scale of a sweep, robust to poisoned measurements.

The scale (seconds measured / seconds estimated over the finished tasks) rescales estimates
for walltime-aware dispatch and the ETA. One task's measurement moves it only within
`MAX_RATIO` of its estimate either way, so a single absurd ``real_s`` (1e308, or 0) cannot
make the scale infinite or zero and starve every ``--walltime`` worker for the rest of the
sweep.
"""
from __future__ import annotations

import math

# A task counts as at most this many times its estimate, and at least its inverse.
MAX_RATIO = 100.0


class TimeScale:
    """Measured / estimated seconds of the finished tasks (1.0 before any)."""

    def __init__(self):
        self.real_s = self.est_s = 0.0

    def add(self, real_s, est_s: float) -> None:
        """Count one finished task: `real_s` measured, `est_s` estimated."""
        if not est_s > 0 or not isinstance(real_s, (int, float)) or not math.isfinite(real_s):
            return
        if real_s <= 0:
            return
        self.real_s += min(max(real_s, est_s / MAX_RATIO), est_s * MAX_RATIO)
        self.est_s += est_s

    def value(self) -> float:
        """The scale (1.0 before any finished task)."""
        if self.est_s <= 0 or self.real_s <= 0:
            return 1.0
        return self.real_s / self.est_s
