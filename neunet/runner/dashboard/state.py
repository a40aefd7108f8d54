"""Owns the state the dashboard pushes to browsers: progress, rate and ETA, workers, failures,
the task stream and the names the sweep plot may use, from a `RunModel` and, inside a
coordinator, its live figures.
"""
from __future__ import annotations

import os
import time

from neunet.runner.dashboard import views
from neunet.runner.dashboard.model import RunModel, finite

# Seconds of task stream shown (the most recent; at most views.MAX_BARS bars).
STREAM_WINDOW_S = 600.0
# Statistic shown on the y axis first when the run has it.
PREFERRED_Y = "mean_rate"


def run_state(model: RunModel, live: dict | None = None) -> dict:
    """The pushed state (JSON-ready).

    Parameters
    ----------
    model : RunModel
        Refreshed by the caller.
    live : dict, optional
        A coordinator's `snapshot()`: counts, workers, elapsed_s, stopping.
    """
    now = time.time()
    progress = model.progress()
    rate = model.rate()
    workers = _workers(model, live)
    if live is not None:
        progress = dict(progress, **{k: live["counts"][k] for k in
                                     ("finished", "failed", "running")})
        progress["queued"] = max(0, progress["total"] - progress["finished"]
                                 - progress["failed"] - progress["running"])
        elapsed = live["elapsed_s"]
        someone_works = any(w["state"] == "alive" for w in workers)
    else:
        elapsed = model.span_s()
        someone_works = progress["running"] > 0
    left = progress["total"] - progress["finished"] - progress["failed"]
    eta = left / rate if someone_works and rate and left > 0 else None
    meta = model.meta
    return {
        "rev": model.rev, "now": now,
        "run": {"dir": os.fspath(model.run_dir), "name": model.run_dir.name,
                "executor": meta.get("executor", "coordinator"), "live": live is not None,
                "stopping": bool(live and live.get("stopping")),
                "dask_dashboard": meta.get("dask_dashboard"),
                "address": meta.get("address")},
        "progress": progress, "rate": finite(rate), "elapsed_s": finite(elapsed),
        "eta_s": finite(eta), "workers": workers,
        "failures": model.failure_groups(),
        "stream": views.stream_bars(model, now, STREAM_WINDOW_S, _slots(live)),
        "sweep": _sweep_names(model),
    }


def _slots(live: dict | None) -> dict | None:
    """Worker name -> slots, from a coordinator's live figures."""
    return None if live is None else {w["name"]: w["slots"] for w in live["workers"]}


def _sweep_names(model: RunModel) -> dict:
    params = sorted(model.params, key=lambda p: (p == "seed", not model.params[p].numeric, p))
    stats = sorted(model.stats, key=lambda s: (s != PREFERRED_Y, s))
    return {"params": params, "stats": stats,
            "constant": {k: _short(v) for k, v in sorted(model.constant.items())}}


def _short(value):
    text = value if isinstance(value, (int, float)) or value is None else str(value)
    return text[:80] if isinstance(text, str) else finite(text) if isinstance(text, float) \
        else text


def _workers(model: RunModel, live: dict | None) -> list[dict]:
    """Worker rows: the live ones (a coordinator's) with their done counts from the index, or
    the workers the index names."""
    stored = {w["name"]: w for w in model.worker_rows()}
    now = time.time()
    if live is None:
        return [dict(w, slots=None, state="seen", last_seen_s=None if w["last_s"] is None
                     else max(0.0, now - w["last_s"])) for w in stored.values()]
    rows = []
    for w in live["workers"]:
        mine = stored.get(w["name"], {})
        rows.append(dict(w, done=mine.get("done", 0), failed=mine.get("failed", 0)))
    return rows
