"""Owns what happens when a run of a task ends: its result in, stored or not, or its failure.

The scheduler's handlers of `ResultIn`, `Stored`, `StoreFailed` and `Failure`, as functions of
the `neunet.runner.coordinator.scheduler.Scheduler` (`s`) they update, and each task's
history of failed and lost runs. A result is taken only from a worker the task was leased to;
the task is finished when the result is durable (`Stored`), and the worker's result is
acknowledged only then; a result that could not be stored runs the task again (counted
against its retries when the result itself was invalid). An ``input`` failure fails the task
at once; ``fault``, ``timeout`` and ``invalid`` ones count against its retries.
"""
from __future__ import annotations

from neunet.runner.coordinator.events import (
    Ack,
    Cancel,
    Discard,
    Failure,
    Journal,
    Record,
    ResultIn,
    Stored,
    StoreFailed,
)
from neunet.store.schema import CLOSED_STATES, FAILED, FINISHED, NOT_ASSIGNED, PULLING

# Failure kinds that count against a task's retries; 'input' fails it at once.
COUNTED_KINDS = ("fault", "timeout", "invalid")
# Characters of a reason kept in a task's history.
HISTORY_REASON_CHARS = 500
# Entries kept in a task's history (the first ones and the latest ones).
HISTORY_MAX = 20


def run_fields(task, **fields) -> dict:
    """Journal fields with the task's run count and (when it has one) its history."""
    fields["attempts"] = task.runs
    if task.history:
        fields["history"] = list(task.history)
    return fields


def remember(s, task, wid: str, kind: str, reason: str) -> None:
    """Keep a failed or lost run in the task's history."""
    worker = s.workers.get(wid)
    entry = {"worker": worker.name if worker else wid, "class": kind,
             "reason": str(reason)[:HISTORY_REASON_CHARS]}
    task.history = (task.history or []) + [entry]
    if len(task.history) > HISTORY_MAX:  # the first runs and the latest ones
        del task.history[HISTORY_MAX // 2]


def on_result_in(s, ev: ResultIn, out: list) -> None:
    worker = s._touch(ev.wid, ev.now_s)
    task = s.tasks.get(ev.tid)
    if task is None or task.storing is not None or not s.leased(ev.wid, ev.tid):
        out += [Discard(ev.tid, ev.wid, ev.upload), Ack(ev.wid, ev.tid)]  # not needed
        if task is not None:
            s._remove_copy(task, ev.wid)
        return
    if task.status == NOT_ASSIGNED:
        s.n_queued -= 1  # delivered after a restart or after being requeued
        task.status = PULLING
    if task.copies.get(ev.wid) is None:  # it ran, unseen (a short task): count its run
        task.runs += 1
        name = worker.name if worker else ev.wid
        out.append(Journal(task.tid, PULLING, {"worker": name, "attempts": task.runs}))
    s._remove_copy(task, ev.wid)
    task.storing = ev.wid
    s.scale.add(ev.real_s, task.est_s)
    out.append(Record(ev.tid, ev.wid, ev.real_s, ev.upload))


def on_stored(s, ev: Stored, out: list) -> None:
    task = s.tasks.get(ev.tid)
    if task is None or task.storing != ev.wid:
        return
    others = [w for w in task.copies if w != ev.wid]
    s._close(task, FINISHED)
    s.n_finished += 1
    out.append(Ack(ev.wid, ev.tid))
    out += [Cancel(w, ev.tid) for w in others if s.workers[w].alive]


def on_store_failed(s, ev: StoreFailed, out: list) -> None:
    task = s.tasks.get(ev.tid)
    if task is None or task.storing != ev.wid:
        return
    task.storing = None
    kind = "invalid" if ev.counted else "store"
    _fail_run(s, task, ev.wid, kind, ev.reason, ev.now_s, out, counted=ev.counted)


def on_failure(s, ev: Failure, out: list) -> None:
    s._touch(ev.wid, ev.now_s)
    out.append(Ack(ev.wid, ev.tid))  # the worker may forget the failure report now
    task = s.tasks.get(ev.tid)
    if (task is None or task.status in CLOSED_STATES or task.storing is not None
            or ev.wid not in task.copies):
        return
    if task.copies[ev.wid] is None:
        task.runs += 1  # it ran, unseen
    s._remove_copy(task, ev.wid)
    _fail_run(s, task, ev.wid, ev.kind, ev.error, ev.now_s, out,
                   counted=ev.kind in COUNTED_KINDS)


def _fail_run(s, task, wid, kind, reason, now_s, out, counted: bool) -> None:
    """One run of `task` failed: remember it, then retry, wait for another copy, or fail
    the task (an input error, or the retries spent)."""
    remember(s, task, wid, kind, reason)
    if counted:
        task.attempts += 1
        task.excluded.add(wid)
    if kind != "input" and task.copies:
        return  # another copy is still running
    if kind == "input" or task.attempts > s.config.retries:
        for other in list(task.copies):
            out.append(Cancel(other, task.tid))
        s._close(task, FAILED)
        s.n_failed += 1
        s.failure_log.append((task.tid, kind, reason))
        out.append(Journal(task.tid, FAILED, run_fields(
            task, reason=reason, failure_class=kind, finished=now_s)))
    elif not task.copies:
        s._requeue(task, out)

