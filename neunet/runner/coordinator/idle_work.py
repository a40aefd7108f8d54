"""Owns finding work for an idle slot once the queue is empty: tasks to steal, tasks to copy.

Two heaps with lazy deletion, so that a request costs the same with 10 workers or 2000 and
10 tasks or 100,000 (a scan of every worker and task per request halved the throughput of a
thousand workers). They are built the first time the queue is empty (before, a request never
needs them) from the copies held then (`activate`), and fed as copies are given or start:

* waiting copies (held by a worker, not started), most expensive first: an idle slot steals
  the most expensive one held by another worker;
* started copies, earliest start first: with nothing to steal, an idle slot runs a
  speculative copy of the task that has been running longest (if it has run at least
  `speculate_after_s`).

An entry is checked when it comes out (`valid`); stale ones (the copy started, finished,
was cancelled, the task's result is in, ...) are dropped then. Entries that are valid but
not for this slot (its own tasks, tasks that do not fit its walltime, tasks that failed on
it) go back, and at most `SCAN_LIMIT` entries are looked at per request, so one request never
walks the whole heap.
"""
from __future__ import annotations

import heapq

from neunet.runner.coordinator.events import Cancel
from neunet.store.schema import CLOSED_STATES, SIMULATING

# Most heap entries looked at per request (each kind).
SCAN_LIMIT = 64
# Stale entries tolerated beyond twice the copies held before the heaps are pruned.
PRUNE_SLACK = 4096


class IdleWork:
    """The two heaps (see the module docstring); the scheduler feeds and queries them."""

    def __init__(self):
        self._waiting: list = []   # (-est_cost, seq, tid, wid)
        self._started: list = []   # (started_s, seq, tid, wid)
        self._seq = 0
        self.active = False

    def waiting(self, task, wid: str) -> None:
        """`wid` holds a copy of `task` it has not started."""
        if self.active:
            self._seq += 1
            heapq.heappush(self._waiting, (-task.est_cost, self._seq, task.tid, wid))

    def started(self, task, wid: str, started_s: float) -> None:
        """`wid` started its copy of `task` at `started_s`."""
        if self.active:
            self._seq += 1
            heapq.heappush(self._started, (started_s, self._seq, task.tid, wid))

    def activate(self, copies) -> None:
        """The queue is empty: build the heaps from `copies`, (task, wid, started_s or None)
        of every copy held (once; a no-op while active)."""
        if self.active:
            return
        self.active = True
        for task, wid, started_s in copies:
            if started_s is None:
                self.waiting(task, wid)
            else:
                self.started(task, wid, started_s)


    def steal(self, n: int, valid, usable) -> list:
        """Up to `n` (tid, victim wid) of waiting copies, most expensive first.

        Parameters
        ----------
        valid : callable
            ``valid(tid, wid) -> bool``: the entry still describes a waiting copy (else it
            is dropped).
        usable : callable
            ``usable(tid, wid) -> bool``: this thief may take it (else it stays).
        """
        return self._take(self._waiting, n, valid, usable)

    def speculate(self, n: int, valid, usable, started_before_s: float) -> list:
        """Up to `n` (tid, wid) of started copies that started before `started_before_s`,
        earliest first (`valid`, `usable` as in `steal`)."""
        return self._take(self._started, n, valid, usable, started_before_s)

    def size(self) -> int:
        """Entries in both heaps (stale ones included)."""
        return len(self._waiting) + len(self._started)

    def prune(self, valid_waiting, valid_started) -> None:
        """Drop the stale entries of both heaps (each finished task leaves its own: the
        scheduler calls this when they outnumber the copies held by far)."""
        for heap, valid in ((self._waiting, valid_waiting), (self._started, valid_started)):
            heap[:] = [e for e in heap if valid(e[2], e[3])]
            heapq.heapify(heap)

    @staticmethod
    def _take(heap: list, n: int, valid, usable, before=None) -> list:
        taken, kept, looked = [], [], 0
        while heap and len(taken) < n and looked < SCAN_LIMIT:
            if before is not None and heap[0][0] > before:
                break  # the earliest start is too recent: so is every other
            entry = heapq.heappop(heap)
            looked += 1
            tid, wid = entry[2], entry[3]
            if not valid(tid, wid):
                continue
            kept.append(entry)
            if usable(tid, wid):
                taken.append((tid, wid))
                kept.pop()
                if before is not None:  # a started copy stays a candidate for others
                    kept.append(entry)
        for entry in kept:
            heapq.heappush(heap, entry)
        return taken


def _open_copy(s, tid: str, wid: str):
    """The task of an idle-work entry if it is open, not being stored, and held by a live
    worker `wid` (else None)."""
    task = s.tasks[tid]
    holder = s.workers.get(wid)
    if (task.status in CLOSED_STATES or task.storing is not None or holder is None
            or not holder.alive or wid not in task.copies):
        return None
    return task


def prune(s) -> None:
    """Drop stale entries once they outnumber twice the copies held (amortized O(1))."""
    held = sum(len(w.tids) for w in s.workers.values() if w.alive)
    if s.idle.size() > 2 * held + PRUNE_SLACK:
        s.idle.prune(lambda tid, wid: _open_copy(s, tid, wid) is not None,
                     lambda tid, wid: _open_copy(s, tid, wid) is not None)


def activate(s) -> None:
    """Build the heaps once the queue is empty (`s` is the Scheduler)."""
    if not s.idle.active:
        s.idle.activate((s.tasks[tid], w.wid, s.tasks[tid].copies.get(w.wid))
                        for w in s.workers.values() if w.alive for tid in w.tids)


def steal(s, thief, n: int, out: list, now_s: float) -> list:
    """Up to `n` waiting copies other workers hold, moved to the idle `thief` (a Cancel to
    each victim); `s` is the Scheduler."""
    def valid(tid, wid):
        task = _open_copy(s, tid, wid)
        return task is not None and task.copies[wid] is None

    def usable(tid, wid):
        return wid != thief.wid and tid not in thief.tids and s._fits(
            thief, s.tasks[tid], now_s)

    stolen = []
    for tid, victim in s.idle.steal(n, valid, usable):
        task = s.tasks[tid]
        if not valid(tid, victim) or thief.wid in task.copies:
            continue  # a second entry of one copy
        s._remove_copy(task, victim)
        out.append(Cancel(victim, tid))
        s._give(thief, task, out)
        stolen.append(task)
    return stolen


def speculate(s, worker, n: int, now_s: float, out: list) -> list:
    """Up to `n` speculative copies for an idle `worker` of the tasks simulating longest
    (at least `speculate_after_s`); `s` is the Scheduler."""
    def valid(tid, wid):  # a copy still simulating (one filtering is nearly done)
        task = _open_copy(s, tid, wid)
        return (task is not None and task.copies[wid] is not None
                and s.workers[wid].tids.get(tid) == SIMULATING
                and len(task.copies) < s.config.max_copies)

    def usable(tid, wid):
        task = s.tasks[tid]
        return (worker.wid not in task.copies and worker.wid not in task.excluded
                and s._fits(worker, task, now_s))

    chosen = []
    before_s = now_s - s.config.speculate_after_s
    for tid, wid in s.idle.speculate(n, valid, usable, before_s):
        if valid(tid, wid) and usable(tid, wid):  # not twice: two entries of one task
            s._give(worker, s.tasks[tid], out)
            chosen.append(s.tasks[tid])
    return chosen

