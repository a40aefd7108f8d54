"""Coordinator scheduling as a pure state machine: ``handle(event) -> list[instruction]``.

No sockets, no clocks, no files: time enters only as the ``now_s`` field of events, and every
effect (send tasks, cancel a copy, write the journal, record a result) is returned as an
instruction for the asyncio coordinator to carry out in order. Tests drive it with lists of
events.

Rules: the queue is ordered by estimated cost, most expensive first; a worker pulls up to the
number of tasks it asks for; a worker silent for longer than the heartbeat timeout is dead and
its tasks go back to the queue without counting an attempt; when the queue is empty a worker
with free slots steals the most expensive task another worker holds but has not started, and
when nothing can be stolen it runs a speculative copy of the longest-running task
(`idle_work`: the same cost per request however many workers and tasks; never a task whose
result is in); a simulator fault, hang or invalid result counts against the retry budget,
and the retry goes to another worker when one is alive; a bad input fails the task at once.

A result is taken only from a worker the task was leased to (ever), and the task is finished
only when the result is durable (`Stored` after `Record`): until then another copy may still
deliver, and if storing fails the task runs again. Each failed or lost run is kept in the
task's `history` (worker, class, reason), and `attempts` counts the runs that started.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from neunet.runner.coordinator import idle_work, outcomes
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
    Stall,
    Stop,
    Stored,
    StoreFailed,
    TaskState,
    Tick,
)
from neunet.runner.coordinator.idle_work import IdleWork
from neunet.runner.coordinator.task_queue import QueuedTask, TaskQueue
from neunet.runner.coordinator.time_scale import TimeScale
from neunet.store.schema import (
    ASSIGNED,
    CLOSED_STATES,
    NOT_ASSIGNED,
    SIMULATING,
    STARTED_STATES,
    TaskRow,
)

__all__ = [  # the vocabulary re-exported: callers write scheduler.Record etc.
    "Ack", "AllDone", "Assign", "Cancel", "Config", "Discard", "Disconnect", "DropWorker",
    "Failure", "Heartbeat", "Join", "Journal", "Record", "Released", "Request", "ResultIn",
    "Scheduler", "Stall", "Stop", "StoreFailed", "Stored", "TaskState", "Tick",
]


@dataclass
class _Worker:
    wid: str
    name: str
    slots: int
    last_seen_s: float
    alive: bool = True
    end_s: float | None = None  # end of its allocation (walltime), on the events' clock
    tids: dict = field(default_factory=dict)  # tid -> state
    wants: int = 0  # tasks it last asked to hold (served again when a stall ends)


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
        self.idle = IdleWork()
        self.scale = TimeScale()
        self.n_finished, self.n_failed = n_finished, 0
        self._n_closed = 0
        self._open_est_s = 0.0
        self.stopping = self.stalled = False
        self.n_alive = 0
        self._done_sent = False
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
        """Tasks neither finished nor failed (a result being stored is still open)."""
        return len(self.tasks) - self._n_closed

    def leased(self, wid: str, tid: str) -> bool:
        """Whether task `tid` is open and was ever given to worker `wid` (only then is a
        result of it from `wid` taken)."""
        task = self.tasks.get(tid)
        return (task is not None and task.leased is not None and wid in task.leased
                and task.status not in CLOSED_STATES)

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
        return self.scale.value()

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
        out.append(Journal(task.tid, NOT_ASSIGNED, outcomes.run_fields(task, worker=None)))

    def _pop_for(self, wid: str, n: int, now_s: float = 0.0) -> list:
        worker = self.workers[wid]

        def usable(task: QueuedTask) -> bool:  # not a worker it failed on, if another is up
            return ((wid not in task.excluded or not self._another_worker_for(task, wid))
                    and self._fits(worker, task, now_s))

        taken = self.queue.pop(n, self.tasks, usable)
        self.n_queued -= len(taken)
        return taken

    def _another_worker_for(self, task: QueuedTask, wid: str) -> bool:
        """Whether a live worker that has not failed on `task` exists (`wid` has)."""
        excluded_alive = sum(1 for w in task.excluded
                             if w in self.workers and self.workers[w].alive)
        return self.n_alive - excluded_alive > 0

    # ------------------------------------------------------------ helpers
    def _give(self, worker: _Worker, task: QueuedTask, out: list, started_s=None) -> None:
        task.copies[worker.wid] = started_s
        if task.leased is None:  # most tasks meet one worker: no set for each up front
            task.leased = set()
        task.leased.add(worker.wid)
        worker.tids[task.tid] = ASSIGNED if started_s is None else SIMULATING
        if started_s is None:
            self.idle.waiting(task, worker.wid)
        else:
            task.runs += 1
            self.idle.started(task, worker.wid, started_s)
        if task.status == NOT_ASSIGNED:
            task.status = ASSIGNED
            out.append(Journal(task.tid, ASSIGNED, {"worker": worker.name}))

    @staticmethod
    def _wire(task: QueuedTask) -> dict:
        return {"tid": task.tid, "pm": task.pm, "est_s": task.est_s}

    def _close(self, task: QueuedTask, status: str) -> None:
        task.status = status
        task.storing = None
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
        for other, started_s in task.copies.items():  # a copy may be made of it again
            if started_s is not None:
                self.idle.started(task, other, started_s)

    def _touch(self, wid: str, now_s: float) -> _Worker | None:
        worker = self.workers.get(wid)
        if worker is not None and worker.alive:
            worker.last_seen_s = now_s
            return worker
        return None

    # ------------------------------------------------------------ workers
    def _on_Join(self, ev: Join, out: list) -> None:
        worker = _Worker(ev.wid, ev.name, max(0, ev.slots), ev.now_s)
        old = self.workers.get(ev.wid)
        if old is not None and old.alive:
            worker.tids = old.tids  # a reconnect within the timeout keeps its leases
        else:
            self.n_alive += 1
        self.workers[ev.wid] = worker
        running, held = set(ev.running), set(ev.held)
        for tid in ev.held:
            task = self.tasks.get(tid)
            if task is None or task.status in CLOSED_STATES:
                if tid in running:
                    out.append(Cancel(ev.wid, tid))
                continue
            if ev.wid not in task.copies:
                if task.status == NOT_ASSIGNED:
                    self.n_queued -= 1
                self._give(worker, task, out, ev.now_s if tid in running else None)
        for tid in [t for t in worker.tids if t not in held]:  # it forgot these: lost
            self._lose_copy(self.tasks[tid], ev.wid, out, "the worker no longer holds it")

    def _lose_copy(self, task: QueuedTask, wid: str, out: list, why: str = "") -> None:
        if why and task.copies.get(wid) is not None:  # a started run ended without a result
            outcomes.remember(self, task, wid, "lost", why)
        self._remove_copy(task, wid)
        if not task.copies and task.status not in CLOSED_STATES and task.storing is None:
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
            task.runs += 1
            self.idle.started(task, worker.wid, now_s)
        if worker.tids.get(task.tid) != state:
            worker.tids[task.tid] = state
            fields = {"worker": worker.name}
            if first:
                fields.update(started=now_s, attempts=task.runs)
            if task.status not in CLOSED_STATES and task.storing is None:
                task.status = state
                out.append(Journal(task.tid, state, fields))

    def _on_TaskState(self, ev: TaskState, out: list) -> None:
        worker = self._touch(ev.wid, ev.now_s)
        task = self.tasks.get(ev.tid)
        if worker is None or task is None or ev.tid not in worker.tids:
            return
        if ev.state in STARTED_STATES:
            self._mark_started(worker, task, ev.state, ev.now_s, out)

    # ------------------------------------------------------------ dispatch
    def _on_Request(self, ev: Request, out: list) -> None:
        worker = self._touch(ev.wid, ev.now_s)
        n_more = 0 if worker is None else ev.n - len(worker.tids)
        if worker is not None:
            worker.wants = ev.n
        if self.stopping or self.stalled or n_more <= 0:
            return
        if ev.left_s is not None:
            worker.end_s = ev.now_s + ev.left_s
        given = self._pop_for(ev.wid, n_more, ev.now_s)
        for task in given:
            self._give(worker, task, out)
        if self.n_queued == 0:
            # queue empty: free slots steal waiting tasks, then run speculative copies
            idle_work.activate(self)
            want = min(n_more - len(given), worker.slots - len(worker.tids))
            if want > 0:
                given += idle_work.steal(self, worker, want, out, ev.now_s)
            want = min(n_more - len(given), worker.slots - len(worker.tids))
            if want > 0:
                given += idle_work.speculate(self, worker, want, ev.now_s, out)
        if given:
            out.append(Assign(ev.wid, [self._wire(t) for t in given]))

    def _on_Released(self, ev: Released, out: list) -> None:
        for tid in ev.tids:
            task = self.tasks.get(tid)
            if task is not None and ev.wid in task.copies:
                self._lose_copy(task, ev.wid, out)

    def _on_Tick(self, ev: Tick, out: list) -> None:
        idle_work.prune(self)
        if self.stalled:
            return  # the coordinator is not reading: silence proves nothing
        limit = self.config.heartbeat_timeout_s
        for worker in self.workers.values():
            if worker.alive and ev.now_s - worker.last_seen_s > limit:
                self._kill(worker, f"silent for {ev.now_s - worker.last_seen_s:.1f} s", out)

    def _kill(self, worker: _Worker, reason: str, out: list) -> None:
        worker.alive = False
        self.n_alive -= 1
        for tid in list(worker.tids):
            self._lose_copy(self.tasks[tid], worker.wid, out, f"worker {reason}")
        out.append(DropWorker(worker.wid, reason))

    def _on_Stall(self, ev: Stall, out: list) -> None:
        was, self.stalled = self.stalled, ev.stalled
        if was and not ev.stalled:  # reading again: a full timeout from now, and the
            for worker in list(self.workers.values()):  # requests refused meanwhile served
                if worker.alive:
                    worker.last_seen_s = max(worker.last_seen_s, ev.now_s)
                    if worker.wants > len(worker.tids):
                        self._on_Request(Request(worker.wid, worker.wants, ev.now_s), out)

    def _on_Stop(self, ev: Stop, out: list) -> None:
        self.stopping = True

    # Event type -> its handler (an explicit table: readers and tools see every handler).
    _HANDLERS: ClassVar[dict] = {
        Join: _on_Join, Disconnect: _on_Disconnect, Heartbeat: _on_Heartbeat,
        TaskState: _on_TaskState, Request: _on_Request, Released: _on_Released,
        Tick: _on_Tick, Stall: _on_Stall, Stop: _on_Stop,
        ResultIn: outcomes.on_result_in, Stored: outcomes.on_stored,
        StoreFailed: outcomes.on_store_failed, Failure: outcomes.on_failure}
