"""Owns the coordinator's queue of waiting tasks: a priority queue ordered by estimated cost.

The scheduler keeps one `QueuedTask` per task of the sweep (its scheduling record) and puts
the ones waiting for a worker in a `TaskQueue`: most expensive first (the longest tasks start
early, so the sweep does not end waiting for one), ties in the order they were queued. A task
taken out of the queue by other means (finished by a copy, failed) leaves a stale entry that
`pop` skips (lazy deletion: no search of the heap).
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from neunet.store.schema import NOT_ASSIGNED


@dataclass(slots=True)
class QueuedTask:
    """The scheduler's record of one task."""
    tid: str
    pm: dict
    est_cost: float
    est_s: float
    status: str = NOT_ASSIGNED
    attempts: int = 0                             # failures counted against the retries
    runs: int = 0                                 # copies started (the `attempts` column)
    qseq: int = -1                                # its current entry in the queue
    copies: dict = field(default_factory=dict)    # wid -> started_s (None if not started)
    excluded: set = field(default_factory=set)    # workers it failed on
    leased: set | None = None                     # every worker it was ever given to
    storing: str | None = None                    # worker whose result is being stored
    history: list | None = None                   # each failed or lost run: worker, class, why


class TaskQueue:
    """Tasks waiting for a worker, most expensive first."""

    def __init__(self):
        self._heap: list = []
        self._seq = 0

    def push(self, task: QueuedTask) -> None:
        """Queue `task` (any earlier entry of it becomes stale)."""
        self._seq += 1
        task.qseq = self._seq
        heapq.heappush(self._heap, (-task.est_cost, self._seq, task.tid))

    def pop(self, n: int, tasks: dict, usable) -> list:
        """Up to `n` waiting tasks for which `usable(task)` holds, most expensive first; the
        unusable ones stay queued in their place. `tasks` maps tid -> QueuedTask."""
        taken, skipped = [], []
        while self._heap and len(taken) < n:
            entry = heapq.heappop(self._heap)
            task = tasks[entry[2]]
            if task.qseq != entry[1] or task.status != NOT_ASSIGNED:
                continue  # stale entry
            if usable(task):
                taken.append(task)
            else:
                skipped.append(entry)
        for entry in skipped:
            heapq.heappush(self._heap, entry)
        return taken
