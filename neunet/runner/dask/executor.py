"""Runs a sweep on a dask.distributed cluster, writing the same run directory as the coordinator.

The client side (`run_on_dask`) is the run directory's single writer: it syncs the tasks into
`RunStore`, submits the unfinished ones most expensive first (Dask priorities from the
`time_cost` estimate), and records each result as it arrives. The worker side is
`neunet.runner.dask.task.run_task` (simulate, filter on the Dask worker, return summary + `.npz`
bytes). Dask is an optional extra: without it `DaskNotInstalled` says what to install.
"""
from __future__ import annotations

import json
import os
import queue
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from neunet.runner.dask.task import STATE_TOPIC
from neunet.store.schema import FILTERING, SIMULATING, TaskRow

# Prefix of the Dask keys of neunet tasks (key = prefix + tid + run nonce + attempt).
KEY_PREFIX = "neunet-"
# Seconds to wait for finished futures before draining state events and reporting progress.
POLL_S = 0.05
# Seconds to keep trying to reach a scheduler given by address.
CONNECT_TIMEOUT_S = 20.0
# Seconds between writes of reported task states to the store.
STATE_FLUSH_S = 0.5
# Threads writing (and fsyncing) the data files of one batch of results.
WRITE_THREADS = 8
# Message of the error raised when dask.distributed cannot be imported.
INSTALL_HINT = ("the Dask executor needs dask.distributed, which is not installed: "
                "pip install neunet[dask]")


class DaskNotInstalled(ImportError):
    """dask.distributed is not importable (install the `neunet[dask]` extra)."""


def import_distributed():
    """Import and return `distributed`, or raise `DaskNotInstalled` with the install hint."""
    try:
        import distributed
    except ImportError:
        raise DaskNotInstalled(INSTALL_HINT) from None
    return distributed


# ----------------------------------------------------------------------------- client side

@dataclass
class _Sweep:
    """Book-keeping of one `run_on_dask` call (client side, main thread only)."""

    store: object
    by_tid: dict
    filter_spec: dict | None
    retries: int
    report_states: bool
    nonce: str = ""                                # makes this run's Dask keys unique
    attempts: dict = field(default_factory=dict)   # tid -> attempts made in this run
    key_tid: dict = field(default_factory=dict)    # Dask key -> tid
    priority: dict = field(default_factory=dict)   # tid -> Dask priority (cost rank)
    on_worker: dict = field(default_factory=dict)  # worker address -> tid it last reported
    done: set = field(default_factory=set)         # tids finished or failed in this run
    failed: set = field(default_factory=set)       # tids failed in this run
    submitted: list = field(default_factory=list)  # tids in submission order (all attempts)
    already: int = 0                               # tasks finished before this run
    pending_states: dict = field(default_factory=dict)  # tid -> (state, fields) to write
    states_flushed_s: float = -float("inf")        # monotonic time of the last state write

    def counts(self) -> dict:
        """Progress figures: total, finished, failed, running, queued, submitted."""
        running = len({tid for tid in self.on_worker.values() if tid not in self.done})
        finished = self.already + len(self.done) - len(self.failed)
        pending = len(self.by_tid) - self.already - len(self.done)
        return {"total": len(self.by_tid), "finished": finished, "failed": len(self.failed),
                "running": running, "queued": pending - running,
                "submitted": len(self.submitted)}



def as_task_row(task) -> TaskRow:
    """A `TaskRow` (estimates may be None) from a TaskRow or (tid, pm, est_cost, est_s)
    tuple, a Task, a dict with tid/pm/est_cost/est_s, or a plain parameter dict (made into a
    Task for its tid)."""
    if isinstance(task, tuple) and len(task) == 4:
        return TaskRow._make(task)
    if isinstance(task, dict) and "tid" in task and "pm" in task:
        return TaskRow(task["tid"], task["pm"], task.get("est_cost"), task.get("est_s"))
    if isinstance(task, dict):
        from neunet.sweep.tasks import Task
        task = Task(task)
    times = list(getattr(task, "time", None) or []) + [None, None]
    return TaskRow(task.tid, task.pm, times[0], times[1])


def _priorities(tasks) -> dict:
    """tid -> Dask priority: dense rank of the estimated cost, most expensive highest."""
    cost = {t.tid: _est_cost(t) for t in tasks}
    rank = {c: i for i, c in enumerate(sorted(set(cost.values())))}
    return {tid: rank[c] for tid, c in cost.items()}


def _est_cost(task: TaskRow) -> float:
    """The task's estimated cost, from `time_cost` when the task does not carry it."""
    if task.est_cost is not None:
        return float(task.est_cost)
    from neunet.sweep.tasks import time_cost
    return float(time_cost(task.pm)[0])


def _submit(client, sweep: _Sweep, tids: list) -> list:
    """Submit `tids` in one graph, each with its own priority; return the futures.

    One `client.compute` call carries every task with its priority (``dask.annotate``), so
    the scheduler sees the whole order at once instead of in arrival order.
    """
    import dask

    from neunet import params
    from neunet.runner.dask import task as dask_task  # Dask pickles only the reference to run_task
    prio = sweep.priority
    spec_json = json.dumps(sweep.filter_spec)
    delayed_tasks, updates = [], []
    for tid in sorted(tids, key=prio.get, reverse=True):
        n = sweep.attempts.get(tid, 0) + 1
        sweep.attempts[tid] = n
        key = f"{KEY_PREFIX}{tid}-{sweep.nonce}-{n}"
        sweep.key_tid[key] = tid
        with dask.annotate(priority=prio[tid]):
            delayed_tasks.append(dask.delayed(dask_task.run_task, pure=False)(
                json.dumps(params.plain(sweep.by_tid[tid].pm)), spec_json, tid,
                sweep.report_states,
                dask_key_name=key))
        updates.append((tid, "assigned", {"attempts": n, "worker": "dask"}))
    sweep.store.set_statuses(updates)  # one durable transaction for the whole group
    sweep.submitted.extend(tids)
    return client.compute(delayed_tasks, optimize_graph=False)


def _write_data(store, tid: str, data: bytes) -> str:
    """Write a task's `.npz` bytes atomically (temp file, fsync, rename); return the path."""
    from neunet.atomic import atomic_write
    final = os.fspath(store.data_path(tid))
    os.makedirs(os.path.dirname(final), exist_ok=True)
    atomic_write(final, data, durable=True)
    return final


def _write_all(store, outputs: list) -> list:
    """Write the data files of finished tasks; return their `record_results` rows (data up to
    `store.INDEX_BLOB_MAX_BYTES` goes into the index with the rows, no file).

    Several files are written (and fsynced) by a few threads at once, so the file system
    can group their journal commits instead of paying one per task.
    """
    from neunet.store.schema import INDEX_BLOB_MAX_BYTES

    def row(item):
        tid, out = item
        data = out["data"]
        if data is not None and len(data) > INDEX_BLOB_MAX_BYTES:  # small data goes into the index
            data = _write_data(store, tid, data)
        return (tid, out["summary"], out["real_s"], out["worker"], data)

    if len(outputs) <= 1:
        return [row(item) for item in outputs]
    with ThreadPoolExecutor(max_workers=min(WRITE_THREADS, len(outputs))) as pool:
        return list(pool.map(row, outputs))


def _failure_class(exc: BaseException) -> str:
    """`lost-worker` when Dask gave up after losing workers, `fault` otherwise."""
    return "lost-worker" if type(exc).__name__ == "KilledWorker" else "fault"


def _handle_error(client, sweep: _Sweep, tid: str, exc: BaseException, ac) -> None:
    """Retry a failed attempt while the budget lasts, else mark the task failed."""
    reason = f"{type(exc).__name__}: {exc}".strip()
    if sweep.attempts[tid] <= sweep.retries:
        ac.update(_submit(client, sweep, [tid]))
        return
    sweep.store.set_status(tid, "failed", failure_class=_failure_class(exc),
                           reason=reason[:4000], attempts=sweep.attempts[tid],
                           finished=time.time())
    sweep.done.add(tid)
    sweep.failed.add(tid)


def _handle_batch(client, sweep: _Sweep, batch, ac) -> None:
    """Record each (future, result) pair of a finished batch (data files, then one commit)."""
    outputs = []
    for future, res in batch:
        tid = sweep.key_tid.pop(future.key)
        if tid in sweep.done:
            continue  # a late duplicate: the task is already stored
        if future.status == "finished":
            outputs.append((tid, res))
            sweep.done.add(tid)
        elif future.status == "error":
            _handle_error(client, sweep, tid, res[1], ac)
        else:  # cancelled (e.g. the scheduler restarted): try again within the budget
            _handle_error(client, sweep, tid, RuntimeError(f"Dask future {future.status}"), ac)
        future.release()
    if outputs:
        sweep.store.record_results(_write_all(sweep.store, outputs))


def _drain_states(sweep: _Sweep, events: queue.Queue) -> None:
    """Collect the `simulating`/`filtering` states workers reported; write them to the store
    at most every `STATE_FLUSH_S` (they are informative; results are written at once)."""
    while True:
        try:
            _, msg = events.get_nowait()
        except queue.Empty:
            break
        tid, state, worker = msg.get("tid"), msg.get("state"), msg.get("worker")
        if tid not in sweep.by_tid or state not in (SIMULATING, FILTERING):
            continue
        sweep.on_worker[worker] = tid
        fields = sweep.pending_states.get(tid, (None, {}))[1]
        if state == SIMULATING:
            fields = {"started": time.time(), "worker": f"dask:{worker}"}
        sweep.pending_states[tid] = (state, fields)
    now_s = time.monotonic()
    if now_s - sweep.states_flushed_s >= STATE_FLUSH_S:
        updates = [(tid, state, fields) for tid, (state, fields) in sweep.pending_states.items()
                   if tid not in sweep.done]  # skip those whose result overtook the report
        sweep.pending_states.clear()
        sweep.states_flushed_s = now_s
        if updates:
            sweep.store.set_statuses(updates)


def _connect(distributed, client_or_address, timeout_s: float):
    """Return (client, owned): a Client for an address string, or the caller's client."""
    if isinstance(client_or_address, distributed.Client):
        return client_or_address, False
    address = getattr(client_or_address, "scheduler_address", client_or_address)
    if not isinstance(address, str) or not address:
        raise ValueError(f"expected a dask.distributed.Client or a scheduler address such as "
                         f"tcp://host:8786, got {client_or_address!r}")
    try:
        return distributed.Client(address, timeout=f"{timeout_s}s"), True
    except OSError as exc:
        raise ConnectionError(f"cannot reach the Dask scheduler at {address}: {exc}") from None


def _record_dashboard(store, client) -> None:
    """Name the Dask scheduler's own dashboard in the run directory (meta `dask_dashboard`)."""
    try:  # None when the scheduler serves none (or an older distributed does not say)
        served = "dashboard" in client.scheduler_info().get("services", {})
    except Exception:
        served = False
    store.set_meta("dask_dashboard", client.dashboard_link if served else None)


def _start(store, tasks, filter_spec, retries, report_states) -> tuple:
    """Sync the tasks into the store; return the sweep state and the tids to submit."""

    from neunet.sweep.provenance import run_meta, with_seed
    by_tid = {}
    for task in tasks:
        task = as_task_row(task)
        # the same derived seed as the built-in coordinator gives (sweep seed 0), so both
        # executors compute the same numbers; explicit seeds are kept
        by_tid[task.tid] = task._replace(pm=with_seed(task.pm, 0, task.tid))
    store.sync_tasks(list(by_tid.values()))
    if store.get_meta("provenance") is None:  # the coordinator's --dask path records its own
        meta = run_meta()
        store.set_meta("neunet_version", meta["neunet_version"])
        store.set_meta("provenance", meta)
    store.set_meta("executor", "dask")
    store.set_meta("filter", filter_spec)
    _remove_leftovers(store)
    finished = store.finished()
    sweep = _Sweep(store=store, by_tid=by_tid, filter_spec=filter_spec, retries=retries,
                   report_states=report_states, nonce=os.urandom(4).hex(),
                   priority=_priorities(by_tid.values()))
    sweep.already = sum(1 for tid in by_tid if tid in finished)
    return sweep, [tid for tid in by_tid if tid not in finished]


def _remove_leftovers(store) -> None:
    """Delete temp data files a killed writer left (this process is the only writer)."""
    from neunet.atomic import TEMP_SUFFIX
    data_dir = os.path.dirname(os.fspath(store.data_path("x")))
    for name in os.listdir(data_dir):
        if name.startswith(".") and name.endswith(TEMP_SUFFIX):
            os.unlink(os.path.join(data_dir, name))


def _loop(client, distributed, sweep: _Sweep, todo: list, progress) -> None:
    """Submit `todo`, then record results as they arrive until every task is done."""
    events: queue.Queue = queue.Queue()
    if sweep.report_states:
        client.subscribe_topic(STATE_TOPIC, events.put)
    ac = distributed.as_completed(_submit(client, sweep, todo), with_results=True,
                                  raise_errors=False)
    try:
        _drain(client, sweep, ac, events, progress)
    except BaseException:
        client.cancel(list(ac.futures))  # ctrl-c or a store error: leave no work behind
        raise
    finally:
        if sweep.report_states:
            client.unsubscribe_topic(STATE_TOPIC)


def _drain(client, sweep: _Sweep, ac, events: queue.Queue, progress) -> None:
    """Record finished futures and reported states until `ac` is exhausted."""
    last = None
    while not ac.is_empty():
        batch = ac.next_batch(block=False)
        if batch:
            _handle_batch(client, sweep, batch, ac)
        else:
            time.sleep(POLL_S)
        _drain_states(sweep, events)
        counts = sweep.counts()
        if progress is not None and counts != last:
            progress(counts)
            last = counts


def run_on_dask(tasks, filter_spec, run_dir, client_or_address, retries: int = 2,
                progress=None, report_states: bool = True,
                connect_timeout_s: float = CONNECT_TIMEOUT_S) -> int:
    """Run a sweep on a dask.distributed cluster, recording it in a neunet run directory.

    Tasks already finished in `run_dir` are not submitted again; the others are submitted
    most expensive first (Dask priority = rank of the estimated cost), each with a Dask key
    made of its tid, a per-call nonce and the attempt number (``pure=False``), so a restart
    never collides with an earlier run's keys. Dask itself reschedules the tasks of lost
    workers; a task that raises is resubmitted up to `retries` times, then marked failed
    with the reason.

    Parameters
    ----------
    tasks : list
        The sweep: `neunet.Task` objects, the coordinator's rows (tid, pm, est_cost, est_s),
        dicts with those keys, or plain parameter dicts.
    filter_spec : dict or None
        Compiled smart filter (`neunet.analysis.filters.compile_filter`), applied on the Dask
        workers.
    run_dir : str, path or neunet.store.RunStore
        The run directory (created if needed; resumed if it holds the same tasks), or the
        caller's open writer for it (left open).
    client_or_address : dask.distributed.Client or str
        A connected client, or a scheduler address such as ``tcp://scheduler:8786`` (the
        client is then created here and closed at the end).
    retries : int
        Extra attempts for a task whose simulation raises.
    progress : callable, optional
        Called with a dict (total, finished, failed, running, queued, submitted) whenever
        those figures change.
    report_states : bool
        Workers report `simulating`/`filtering` through Dask's event log (one small message
        each), so the run directory shows them as the coordinator's does.
    connect_timeout_s : float
        How long to keep trying to reach a scheduler given by address.

    Returns
    -------
    int
        Exit status: 0 when every task finished, 1 when some failed.

    Raises
    ------
    DaskNotInstalled
        When dask.distributed is not installed (`pip install neunet[dask]`).
    ConnectionError
        When the scheduler at the given address cannot be reached.
    """
    distributed = import_distributed()
    from neunet.store import RunStore

    if int(retries) < 0:
        raise ValueError(f"retries must be >= 0, got {retries!r}")
    owned_store = not isinstance(run_dir, RunStore)
    store = RunStore(run_dir) if owned_store else run_dir
    try:
        sweep, todo = _start(store, tasks, filter_spec, int(retries), report_states)
        if not todo and progress is not None:
            progress(sweep.counts())
        if todo:
            client, owned = _connect(distributed, client_or_address, connect_timeout_s)
            _record_dashboard(store, client)
            try:
                if progress is not None:
                    progress(sweep.counts())
                _loop(client, distributed, sweep, todo, progress)
            finally:
                if owned:
                    client.close()
    finally:
        if owned_store:
            store.close()
    return 1 if sweep.failed else 0
