"""Owns the function a Dask worker runs for one neunet task: simulate, filter, encode.

`run_task` is a module function, so Dask ships only a reference to it plus its arguments
(the parameters and the filter spec as JSON text). It reports the `simulating` and
`filtering` states through Dask's event log and returns the summary and the kept arrays
already encoded as `.npz` bytes (the store's format), so only the reduced data travels.
"""
from __future__ import annotations

import json
import os
import time

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
        A spec from `neunet.filters.compile_filter` (None: keep everything), or its JSON.
    tid : str
        The task id (only used for state reports).
    report_states : bool
        Log `simulating`/`filtering` events for the client's progress and the store.

    Returns
    -------
    dict
        ``summary`` (dict of floats), ``data`` (`.npz` bytes from `store_npz.encode_arrays`, or
        None when the filter dropped the bulk data), ``real_s`` (simulation + filter seconds)
        and ``worker`` (the Dask worker's address).
    """
    from neunet import filters, store_npz
    from neunet.interface import simulate

    pm = json.loads(pm) if isinstance(pm, str) else pm
    filter_spec = json.loads(filter_spec) if isinstance(filter_spec, str) else filter_spec
    t0_s = time.perf_counter()
    if report_states:
        _report_state(tid, "simulating")
    result = simulate(pm)
    if report_states:
        _report_state(tid, "filtering")
    summary, kept = filters.apply_filter(filter_spec, result, pm)
    data = store_npz.encode_arrays(kept) if kept is not None else None
    return {"summary": _plain_summary(summary), "data": data,
            "real_s": time.perf_counter() - t0_s, "worker": _worker_name()}


def _plain_summary(summary: dict) -> dict:
    """Summary values as plain Python floats (numpy scalars become floats)."""
    return {str(k): (float(v) if hasattr(v, "__float__") and not isinstance(v, bool) else v)
            for k, v in summary.items()}


def _worker_name() -> str:
    """The Dask worker's address (host:pid when not inside a worker)."""
    try:
        from distributed import get_worker
        return "dask:" + get_worker().address
    except (ImportError, ValueError):
        return f"local:{os.getpid()}"
