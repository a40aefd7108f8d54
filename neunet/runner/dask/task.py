"""Owns the function a Dask worker runs for one neunet task (`neunet.sweep.task_run` inside).

`run_task` is a module function, so Dask ships only a reference to it plus its arguments
(the parameters and the filter spec as JSON text). It reports the `simulating` and
`filtering` states through Dask's event log and returns the summary and the kept arrays
already encoded as `.npz` bytes (the store's format), so only the reduced data travels.
"""
from __future__ import annotations

import json
import os

# Dask event topic on which workers report a task's `simulating`/`filtering` state.
STATE_TOPIC = "neunet-task-state"


def _report_state(tid: str, state: str) -> None:
    """Tell the client (through the scheduler's event log) that `tid` entered `state`.

    The scheduler adds the worker's address to the message as ``worker``.
    """
    try:
        from distributed import get_worker
        get_worker().log_event(STATE_TOPIC, {"tid": tid, "state": state})
    except (ImportError, ValueError):
        pass  # not inside a Dask worker (called directly): nothing to report to


def run_task(pm, filter_spec, tid: str, report_states: bool = True) -> dict:
    """Simulate one task on a Dask worker and reduce its data with the smart filter.

    Parameters
    ----------
    pm : dict or str
        The task's parameters, or their JSON text (what the executor sends: plain text,
        which Dask neither traverses nor pickles).
    filter_spec : dict, str or None
        A spec from `neunet.analysis.filters.compile_filter` (None: keep everything), or its JSON.
    tid : str
        The task id (only used for state reports).
    report_states : bool
        Log `simulating`/`filtering` events for the client's progress and the store.

    Returns
    -------
    dict
        ``summary`` (statistic -> float or None), ``data`` (the kept arrays' `.npz` bytes, or
        None when nothing was kept), ``hash`` (the result's `result_hash`), ``real_s``
        (simulation + filter seconds) and ``worker`` (the Dask worker's address), all from
        `neunet.sweep.task_run.run_task`.
    """
    from neunet.store.schema import FILTERING, SIMULATING
    from neunet.sweep.task_run import run_task as run_one

    pm = json.loads(pm) if isinstance(pm, str) else pm
    filter_spec = json.loads(filter_spec) if isinstance(filter_spec, str) else filter_spec
    if report_states:
        _report_state(tid, SIMULATING)
    out = run_one(pm, filter_spec,
                  (lambda _sim_s: _report_state(tid, FILTERING)) if report_states else None)
    return {"summary": out.summary, "data": out.npz_bytes(), "hash": out.digest,
            "real_s": out.real_s, "worker": _worker_name()}


def _worker_name() -> str:
    """The Dask worker's address (host:pid when not inside a worker)."""
    try:
        from distributed import get_worker
        return "dask:" + get_worker().address
    except (ImportError, ValueError):
        return f"local:{os.getpid()}"
