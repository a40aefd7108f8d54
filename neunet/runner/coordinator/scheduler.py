"""Coordinator scheduling as a pure state machine: ``handle(event) -> list[instruction]``.

No sockets, no clocks, no files: time enters only as the ``now_s`` field of events, and every
effect (send tasks, cancel a copy, write the journal, record a result) is returned as an
instruction for the asyncio coordinator to carry out in order. Tests drive it with lists of
events.

Rules: the queue is ordered by estimated cost, most expensive first; a worker pulls up to the
number of tasks it asks for; a worker silent for longer than the heartbeat timeout is dead and
its tasks go back to the queue without counting an attempt; when the queue is empty a worker
with free slots steals tasks that are held but not started by the busiest worker, and when
nothing can be stolen it runs a speculative copy of the longest-running task (first result
wins, the other copies are cancelled); a simulator fault or hang counts against the retry
budget, and the retry goes to another worker when one is alive.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

# The events it handles and the instructions it returns (its vocabulary, in events.py).
from neunet.runner.coordinator.events import (
    Ack,
    AllDone,
    Assign,
    Cancel,
    Discard,
    Disconnect,
    DropWorker,
    Failure,
    Heartbeat,
    Join,
    Journal,
    Record,
    Released,
    Request,
    ResultIn,
    Stop,
    TaskState,
    Tick,
)
from neunet.runner.coordinator.task_queue import QueuedTask, TaskQueue
from neunet.store.schema import (
    ASSIGNED,
    FAILED,
    FINISHED,
    NOT_ASSIGNED,
    SIMULATING,
    STARTED_STATES,
    TaskRow,
)


@dataclass
class _Worker:
    wid: str
    name: str
    slots: int
    last_seen_s: float
    alive: bool = True
    end_s: float | None = None  # end of its allocation (walltime), on the events' clock
    tids: dict = field(default_factory=dict)  # tid -> state


@dataclass
class Config:
    """Scheduling knobs: retries per task, heartbeat timeout, speculation threshold."""
    retries: int = 2
    heartbeat_timeout_s: float = 3.0
    speculate_after_s: float = 1.0
    max_copies: int = 2
    walltime_margin: float = 1.5  # a task goes to a worker only if margin x scaled estimate fits


class Scheduler:
    """The scheduling state of one sweep.

    Parameters
    ----------
    tasks : iterable of neunet.store.schema.TaskRow
        Every task still to run (journal replay: the finished ones are left out and counted
        in `n_finished`).
    n_finished : int
        Tasks already finished in the run directory.
    config : Config, optional
    """

    def __init__(self, tasks, n_finished: int = 0, config: Config | None = None):
        self.config = config or Config()
        self.tasks: dict[str, QueuedTask] = {}
        self.workers: dict[str, _Worker] = {}
        self.queue = TaskQueue()
        self.n_finished, self.n_failed = n_finished, 0
        self._n_closed = 0
        self._open_est_s = 0.0
        self.stopping = False
        self._done_sent = False
        self._real_s_done = self._est_s_done = 0.0  # measured vs estimated, finished tasks
        self.failure_log: list = []  # (tid, failure class, reason) of each failed task, in order
        for tid, pm, est_cost, est_s in map(TaskRow._make, tasks):
            if tid not in self.tasks:
                self.tasks[tid] = QueuedTask(tid, pm, float(est_cost), float(est_s))
                self._push(self.tasks[tid])
                self._open_est_s += float(est_s)
        self.n_queued = len(self.tasks)

    # ------------------------------------------------------------ public
    def handle(self, event) -> list:
        """Apply one event; return the instructions it causes, in order."""
        out: list = []
        self._HANDLERS[type(event)](self, event, out)
        if not self._done_sent and self.n_open() == 0:
            self._done_sent = True
            out.append(AllDone(self.n_finished, self.n_failed))
        return out

    def n_open(self) -> int:
        """Tasks neither finished nor failed."""
        return len(self.tasks) - self._n_closed

    def counts(self) -> dict:
        """Numbers for the progress display (copies count once per worker)."""
        states = [st for w in self.workers.values() if w.alive for st in w.tids.values()]
        waiting = sum(1 for st in states if st == ASSIGNED)
        return {"finished": self.n_finished, "failed": self.n_failed,
                "running": len(states) - waiting, "prefetched": waiting,
                "queued": self.n_queued, "workers": sum(w.alive for w in self.workers.values())}

    def open_estimate_s(self) -> float:
        """Sum of estimated seconds of the tasks not yet finished or failed."""
        return max(0.0, self._open_est_s)

    def worker_view(self) -> list:
        """(name, slots, {state: count}) of each live worker, for the progress display."""
        rows = []
        for w in self.workers.values():
            if w.alive:
                by_state: dict = {}
                for st in w.tids.values():
                    by_state[st] = by_state.get(st, 0) + 1
                rows.append((w.name, w.slots, by_state))
        return rows

    def time_scale(self) -> float:
        """Measured / estimated seconds of the finished tasks (1.0 before any result)."""
        if self._est_s_done <= 0 or self._real_s_done <= 0:
            return 1.0
        return self._real_s_done / self._est_s_done

    def _fits(self, worker: _Worker, task: QueuedTask, now_s: float) -> bool:
        """Whether the task's scaled estimate, with the margin, fits the worker's time left."""
        if worker.end_s is None:
            return True
        need_s = task.est_s * self.time_scale() * self.config.walltime_margin
        return need_s <= worker.end_s - now_s

    # ------------------------------------------------------------ queue
    def _push(self, task: QueuedTask) -> None:
        task.status = NOT_ASSIGNED
        self.queue.push(task)

    def _requeue(self, task: QueuedTask, out: list) -> None:
        self._push(task)
        self.n_queued += 1
        out.append(Journal(task.tid, NOT_ASSIGNED, {"worker": None, "attempts": task.attempts}))

    def _pop_for(self, wid: str, n: int, now_s: float = 0.0) -> list:
        worker = self.workers[wid]
        others_alive = [w for w in self.workers.values() if w.alive and w.wid != wid]

        def usable(task: QueuedTask) -> bool:  # not a worker it failed on, if another is up
            return (not (wid in task.excluded
                         and any(w.wid not in task.excluded for w in others_alive))
                    and self._fits(worker, task, now_s))

        taken = self.queue.pop(n, self.tasks, usable)
        self.n_queued -= len(taken)
        return taken

    # ------------------------------------------------------------ helpers
    def _give(self, worker: _Worker, task: QueuedTask, out: list, started_s=None) -> None:
        task.copies[worker.wid] = started_s
        worker.tids[task.tid] = ASSIGNED if started_s is None else SIMULATING
        if task.status == NOT_ASSIGNED:
            task.status = ASSIGNED
            out.append(Journal(task.tid, ASSIGNED, {"worker": worker.name}))

    @staticmethod
    def _wire(task: QueuedTask) -> dict:
        return {"tid": task.tid, "pm": task.pm, "est_s": task.est_s}

    def _close(self, task: QueuedTask, status: str) -> None:
        task.status = status
        self._n_closed += 1
        self._open_est_s -= task.est_s
        for wid in list(task.copies):
            self.workers[wid].tids.pop(task.tid, None)
        task.copies.clear()

    def _remove_copy(self, task: QueuedTask, wid: str) -> None:
        task.copies.pop(wid, None)
        worker = self.workers.get(wid)
        if worker is not None:
            worker.tids.pop(task.tid, None)

    def _touch(self, wid: str, now_s: float) -> _Worker | None:
        worker = self.workers.get(wid)
        if worker is not None and worker.alive:
            worker.last_seen_s = now_s
            return worker
        return None

    # ------------------------------------------------------------ handlers
    def _on_Join(self, ev: Join, out: list) -> None:
        worker = _Worker(ev.wid, ev.name, max(0, ev.slots), ev.now_s)
        old = self.workers.get(ev.wid)
        if old is not None and old.alive:
            worker.tids = old.tids  # a reconnect within the timeout keeps its leases
        self.workers[ev.wid] = worker
        running = set(ev.running)
        for tid in ev.held:
            task = self.tasks.get(tid)
            if task is None or task.status in (FINISHED, FAILED):
                if tid in running:
                    out.append(Cancel(ev.wid, tid))
                continue
            if ev.wid not in task.copies:
                if task.status == NOT_ASSIGNED:
                    self.n_queued -= 1
                self._give(worker, task, out, ev.now_s if tid in running else None)
        for tid in [t for t in worker.tids if t not in set(ev.held)]:
            self._lose_copy(self.tasks[tid], ev.wid, out)  # it forgot these: lost

    def _lose_copy(self, task: QueuedTask, wid: str, out: list) -> None:
        self._remove_copy(task, wid)
        if not task.copies and task.status not in (FINISHED, FAILED):
            self._requeue(task, out)

    def _on_Disconnect(self, ev: Disconnect, out: list) -> None:
        """A connection closed: nothing changes yet. The worker keeps its tasks until its
        heartbeats time out: it may reconnect and deliver what it holds."""

    def _on_Heartbeat(self, ev: Heartbeat, out: list) -> None:
        worker = self._touch(ev.wid, ev.now_s)
        if worker is None:
            return
        for tid, state in ev.states.items():
            if tid in worker.tids and state in STARTED_STATES:
                self._mark_started(worker, self.tasks[tid], state, ev.now_s, out)

    def _mark_started(self, worker, task, state, now_s, out) -> None:
        first = task.copies.get(worker.wid) is None
        if first:
            task.copies[worker.wid] = now_s
        if worker.tids.get(task.tid) != state:
            worker.tids[task.tid] = state
            fields = {"worker": worker.name}
            if first:
                fields["started"] = now_s
            if task.status not in (FINISHED, FAILED):
                task.status = state
                out.append(Journal(task.tid, state, fields))

    def _onQueuedTaskState(self, ev: TaskState, out: list) -> None:
        worker = self._touch(ev.wid, ev.now_s)
        task = self.tasks.get(ev.tid)
        if worker is None or task is None or ev.tid not in worker.tids:
            return
        if ev.state in STARTED_STATES:
            self._mark_started(worker, task, ev.state, ev.now_s, out)

    def _on_Request(self, ev: Request, out: list) -> None:
        worker = self._touch(ev.wid, ev.now_s)
        n_more = 0 if worker is None else ev.n - len(worker.tids)
        if self.stopping or n_more <= 0:
            return
        if ev.left_s is not None:
            worker.end_s = ev.now_s + ev.left_s
        given = self._pop_for(ev.wid, n_more, ev.now_s)
        for task in given:
            self._give(worker, task, out)
        if self.n_queued == 0:
            # queue empty: free slots steal waiting tasks, then run speculative copies
            want = min(n_more - len(given), worker.slots - len(worker.tids))
            if want > 0:
                given += self._steal(worker, want, out, ev.now_s)
            want = min(n_more - len(given), worker.slots - len(worker.tids))
            if want > 0:
                given += self._speculate(worker, want, ev.now_s, out)
        if given:
            out.append(Assign(ev.wid, [self._wire(t) for t in given]))

    def _steal(self, thief: _Worker, n: int, out: list, now_s: float = 0.0) -> list:
        victims = sorted((w for w in self.workers.values() if w.alive and w.wid != thief.wid),
                         key=lambda w: -len(w.tids))
        stolen = []
        for victim in victims:
            waiting = [tid for tid, st in victim.tids.items() if st == ASSIGNED
                       and self.tasks[tid].copies.get(victim.wid) is None
                       and self._fits(thief, self.tasks[tid], now_s)]
            waiting.sort(key=lambda tid: -self.tasks[tid].est_cost)
            for tid in waiting[:n - len(stolen)]:
                task = self.tasks[tid]
                self._remove_copy(task, victim.wid)
                out.append(Cancel(victim.wid, tid))
                self._give(thief, task, out)
                stolen.append(task)
            if len(stolen) >= n:
                break
        return stolen

    def _speculate(self, worker: _Worker, n: int, now_s: float, out: list) -> list:
        cands = []
        for other in self.workers.values():
            if other.wid == worker.wid or not other.alive:
                continue
            for tid in other.tids:
                task = self.tasks[tid]
                started = task.copies.get(other.wid)
                if (started is not None and worker.wid not in task.copies
                        and len(task.copies) < self.config.max_copies
                        and now_s - started >= self.config.speculate_after_s
                        and worker.wid not in task.excluded and self._fits(worker, task, now_s)):
                    cands.append((started, tid))
        cands.sort()
        chosen = []
        for _, tid in cands:
            task = self.tasks[tid]
            if worker.wid in task.copies or len(chosen) >= n:
                continue
            self._give(worker, task, out)
            chosen.append(task)
        return chosen

    def _on_ResultIn(self, ev: ResultIn, out: list) -> None:
        self._touch(ev.wid, ev.now_s)
        task = self.tasks.get(ev.tid)
        if task is None or task.status in (FINISHED, FAILED):
            out += [Discard(ev.tid, ev.wid, ev.upload), Ack(ev.wid, ev.tid)]
            if task is not None:
                self._remove_copy(task, ev.wid)
            return
        if task.status == NOT_ASSIGNED:
            self.n_queued -= 1  # delivered after a restart or after being requeued
        others = [w for w in task.copies if w != ev.wid]
        if ev.real_s and ev.real_s > 0 and task.est_s > 0:
            self._real_s_done += ev.real_s
            self._est_s_done += task.est_s
        self._close(task, FINISHED)
        self.n_finished += 1
        out += [Record(ev.tid, ev.wid, ev.real_s, ev.upload), Ack(ev.wid, ev.tid)]
        out += [Cancel(w, ev.tid) for w in others if self.workers[w].alive]

    def _on_Failure(self, ev: Failure, out: list) -> None:
        self._touch(ev.wid, ev.now_s)
        out.append(Ack(ev.wid, ev.tid))  # the worker may forget the failure report now
        task = self.tasks.get(ev.tid)
        if task is None or task.status in (FINISHED, FAILED) or ev.wid not in task.copies:
            return
        self._remove_copy(task, ev.wid)
        task.attempts += 1
        task.excluded.add(ev.wid)
        if task.copies:
            return  # another copy is still running
        if task.attempts > self.config.retries:
            self._close(task, FAILED)
            self.n_failed += 1
            self.failure_log.append((task.tid, ev.kind, ev.error))
            out.append(Journal(task.tid, FAILED, {"attempts": task.attempts, "reason": ev.error,
                                                   "failure_class": ev.kind,
                                                   "finished": ev.now_s}))
        else:
            self._requeue(task, out)

    def _on_Released(self, ev: Released, out: list) -> None:
        for tid in ev.tids:
            task = self.tasks.get(tid)
            if task is not None and ev.wid in task.copies:
                self._lose_copy(task, ev.wid, out)

    def _on_Tick(self, ev: Tick, out: list) -> None:
        limit = self.config.heartbeat_timeout_s
        for worker in self.workers.values():
            if worker.alive and ev.now_s - worker.last_seen_s > limit:
                self._kill(worker, f"silent for {ev.now_s - worker.last_seen_s:.1f} s", out)

    def _kill(self, worker: _Worker, reason: str, out: list) -> None:
        worker.alive = False
        for tid in list(worker.tids):
            self._lose_copy(self.tasks[tid], worker.wid, out)
        out.append(DropWorker(worker.wid, reason))

    def _on_Stop(self, ev: Stop, out: list) -> None:
        self.stopping = True

    # Event type -> its handler (an explicit table: readers and tools see every handler).
    _HANDLERS: ClassVar[dict] = {
        Join: _on_Join, Disconnect: _on_Disconnect, Heartbeat: _on_Heartbeat,
        TaskState: _onQueuedTaskState, Request: _on_Request, ResultIn: _on_ResultIn,
        Failure: _on_Failure, Released: _on_Released, Tick: _on_Tick, Stop: _on_Stop}
