"""Owns what the dashboard reads from a running coordinator: its workers and counts, taken from
the scheduling state on the coordinator's event loop (read only; the coordinator never calls it).
"""
from __future__ import annotations

import time

# Task states a worker reports for a task it has started (the scheduler's).
STARTED = ("simulating", "filtering", "pulling")
# A worker whose allocation ends within this many seconds is shown as draining.
DRAIN_SHOWN_S = 0.0


class CoordinatorSource:
    """Live figures of a coordinator (`neunet.runner.coordinator.server.Coordinator`).

    Parameters
    ----------
    coord : Coordinator
        The running coordinator; only its ``sched`` (scheduling state), ``started_s`` and
        ``stop`` event are read.
    """

    def __init__(self, coord):
        self.coord = coord

    def snapshot(self) -> dict:
        """Counts, workers (name, slots, busy, held, last heartbeat, state), elapsed seconds
        and whether the coordinator is stopping. Call on the coordinator's event loop."""
        coord = self.coord
        sched = coord.sched
        now = time.monotonic()
        stopping = coord.stop.is_set()
        workers = []
        for w in sched.workers.values():
            busy = sum(1 for st in w.tids.values() if st in STARTED)
            state = "lost" if not w.alive else "alive"
            if w.alive and (stopping or (w.end_s is not None and w.end_s - now <= DRAIN_SHOWN_S)):
                state = "draining"
            workers.append({"name": w.name, "slots": w.slots, "busy": busy, "held": len(w.tids),
                            "last_seen_s": round(now - w.last_seen_s, 1), "state": state,
                            "time_left_s": None if w.end_s is None else round(w.end_s - now)})
        counts = sched.counts()
        return {"counts": counts, "workers": workers, "elapsed_s": now - coord.started_s,
                "stopping": stopping}
