"""Owns what the dashboard ships to the browser, aggregated on the server: the sweep plot's
points, the task stream's bars, and one task's detail (parameters, summary, raster, voltage).

Sizes are bounded whatever the run's size: at most `MAX_X` x `MAX_COLOURS` sweep points
(groups of tasks with their mean, range and a representative task), `MAX_BARS` stream bars
(the most recent), `MAX_SPIKES` raster dots and `MAX_POINTS` samples per voltage trace.
"""
from __future__ import annotations

import itertools

import numpy as np

from neunet.runner.dashboard.model import RUNNING, RunModel, finite

# Most x positions of the sweep plot (more distinct numeric values are binned).
MAX_X = 200
# Most colour groups of the sweep plot (more distinct values are binned or lumped).
MAX_COLOURS = 10
# Most task-stream bars shipped (the most recent ones).
MAX_BARS = 1500
# Most lanes of the task stream (the most recently active ones).
MAX_LANES = 48
# Most raster dots and voltage samples per trace shipped for one task, and traces shown.
MAX_SPIKES, MAX_POINTS, MAX_TRACES = 20000, 2000, 8
# Overlap allowed between bars of one lane: seconds, plus a fraction of the new bar.
LANE_SLACK_S, LANE_SLACK_FRACTION = 0.05, 0.1
# Task states shown as bars, and the code each has in a bar.
BAR_STATES = RUNNING + ("finished", "failed", "assigned", "not-assigned")


def _labels(values: np.ndarray, limit: int) -> tuple[np.ndarray, list]:
    """Group labels of `values` (numeric values binned, other values lumped) and their names,
    at most `limit` groups; `values` contains no missing entries."""
    if values.dtype == np.float64:
        uniq = np.unique(values)
        if len(uniq) <= limit:
            return np.searchsorted(uniq, values), [_num(u) for u in uniq]
        edges = np.unique(np.quantile(values, np.linspace(0, 1, limit + 1)))
        codes = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)
        return codes, [f"{_num(a)}..{_num(b)}" for a, b in itertools.pairwise(edges)]
    text = np.array([str(v) for v in values], dtype=object)
    names, codes, counts = np.unique(text, return_inverse=True, return_counts=True)
    if len(names) <= limit:
        return codes, list(names)
    keep = np.argsort(-counts, kind="stable")[:limit - 1]
    remap = np.full(len(names), limit - 1)
    remap[keep] = np.arange(len(keep))
    return remap[codes], [names[k] for k in keep] + ["other"]


def _num(value) -> float | int | str:
    value = float(value)
    return int(value) if value.is_integer() and abs(value) < 1e15 else float(f"{value:.6g}")


def _x_positions(x: np.ndarray) -> tuple[np.ndarray, bool]:
    """x of each task: as they are, or the centre of one of `MAX_X` equal bins."""
    uniq = np.unique(x)
    if len(uniq) <= MAX_X:
        return x, False
    lo, hi = float(uniq[0]), float(uniq[-1])
    width = (hi - lo) / MAX_X
    codes = np.clip(((x - lo) / width).astype(int), 0, MAX_X - 1)
    return lo + (codes + 0.5) * width, True


def sweep_points(model: RunModel, x: str, y: str, colour: str | None = None) -> dict:
    """Groups of finished tasks for the sweep plot: one point per (colour, x) with the mean y,
    its range, the number of tasks and the task closest to the mean.

    Raises
    ------
    KeyError
        When `x`, `y` or `colour` is not a varying parameter / statistic of the run.
    """
    if x not in model.params or y not in model.stats:
        raise KeyError(f"x must be a varying parameter and y a statistic (got {x!r}, {y!r})")
    if colour and colour not in model.params:
        raise KeyError(f"colour must be a varying parameter (got {colour!r})")
    done = model.column("status") == "finished"
    xs, ys = model.column(x), model.column(y)
    ok = done & np.isfinite(ys) & (np.isfinite(xs) if xs.dtype == np.float64
                                   else np.array([v is not None for v in xs], dtype=bool))
    idx = np.flatnonzero(ok)
    out = {"x": x, "y": y, "colour": colour or None, "n_tasks": len(idx), "series": [],
           "x_binned": False, "categorical_x": xs.dtype != np.float64}
    if len(idx) == 0:
        return out
    xv = xs[idx] if xs.dtype == np.float64 else np.array([str(v) for v in xs[idx]], dtype=object)
    if xs.dtype == np.float64:
        xv, out["x_binned"] = _x_positions(xv)
    if colour:
        cv = model.column(colour)[idx]
        ccode, cnames = _labels(cv if cv.dtype == np.float64 else
                                np.array([str(v) for v in cv], dtype=object), MAX_COLOURS)
    else:
        ccode, cnames = np.zeros(len(idx), dtype=int), [None]
    tids = model.tids
    for c, name in enumerate(cnames):
        part = np.flatnonzero(ccode == c)
        if len(part):
            out["series"].append(_series(name, xv[part], ys[idx[part]], idx[part], tids))
    return out


def _series(name, xv: np.ndarray, yv: np.ndarray, rows: np.ndarray, tids: list) -> dict:
    """One colour's points: per distinct x, mean/min/max of y, count, representative tid."""
    keys, inverse = np.unique(xv, return_inverse=True)
    n = np.bincount(inverse, minlength=len(keys))
    mean = np.bincount(inverse, weights=yv, minlength=len(keys)) / n
    lo = np.full(len(keys), np.inf)
    hi = np.full(len(keys), -np.inf)
    np.minimum.at(lo, inverse, yv)
    np.maximum.at(hi, inverse, yv)
    dist = np.abs(yv - mean[inverse])
    order = np.lexsort((dist, inverse))  # per group, the task nearest the mean first
    first = order[np.searchsorted(inverse[order], np.arange(len(keys)))]
    xs = [k if isinstance(k, str) else _num(k) for k in keys]
    return {"name": name, "x": xs, "y": [finite(v) for v in mean], "n": n.tolist(),
            "lo": [finite(v) for v in lo], "hi": [finite(v) for v in hi],
            "tid": [tids[int(rows[i])] for i in first]}


def stream_bars(model: RunModel, now_s: float, window_s: float | None = None,
                slots: dict | None = None) -> dict:
    """The task stream: the most recent bars (start, end, state, tid) in lanes per worker.

    Parameters
    ----------
    model : RunModel
    now_s : float
        UNIX time at the right edge for a running sweep.
    window_s : float, optional
        Only bars that ended within this many seconds before the end (default: all kept,
        at most `MAX_BARS`).
    slots : dict, optional
        Worker name -> number of slots, when known: its lanes are at most that many.
    """
    started = model.column("started")
    status = model.column("status")
    finished = model.column("finished")
    running = np.isin(status, RUNNING)
    end = np.where(running, now_s, finished)
    has = np.isfinite(started) & np.isfinite(end)
    t_end = float(np.nanmax(end[has])) if has.any() else now_s
    if window_s is not None:
        has &= end >= t_end - window_s
    idx = np.flatnonzero(has)
    idx = idx[np.argsort(started[idx], kind="stable")][-MAX_BARS:]
    workers = model.column("worker")
    lanes, lane_of = _lanes(idx, started, end, workers, slots or {})
    t0 = float(started[idx[0]]) if len(idx) else now_s
    code = {s: i for i, s in enumerate(BAR_STATES)}
    bars = [[lane_of[int(i)], round(float(started[i]) - t0, 4), round(float(end[i]) - t0, 4),
             code.get(status[i], 0), model.tids[int(i)]] for i in idx if int(i) in lane_of]
    return {"t0": t0, "t_end": t_end - t0, "lanes": lanes, "bars": bars,
            "states": list(BAR_STATES), "n_bars": len(bars)}


def _lane_for(ends: list, start: float, end: float, n_slots: int | None) -> int:
    """The lane of a bar: the one free longest before its start (a small overlap allowed: a
    slot starts its next task before the last one's result is recorded), else a new lane,
    else (all of a worker's slots in use) the one freed first."""
    slack = LANE_SLACK_S + LANE_SLACK_FRACTION * max(0.0, end - start)
    free = [k for k, t in enumerate(ends) if t <= start + slack]
    if free:
        return min(free, key=lambda k: ends[k])
    if n_slots is None or len(ends) < n_slots:
        ends.append(-np.inf)
        return len(ends) - 1
    return min(range(len(ends)), key=lambda k: ends[k])


def _lanes(idx, started, end, workers, slots: dict) -> tuple[list, dict]:
    """Lanes per worker (`_lane_for`); those of the `MAX_LANES` most recently active
    workers are kept."""
    free_at: dict = {}  # worker -> end time of the last bar of each lane
    lane_of: dict = {}
    for i in idx:
        ends = free_at.setdefault(workers[i], [])
        k = _lane_for(ends, started[i], end[i], slots.get(workers[i]))
        ends[k] = max(ends[k], end[i])
        lane_of[int(i)] = (workers[i], k)
    recent = sorted(free_at, key=lambda w: -max(free_at[w]))
    names = [(w, k) for w in sorted(recent[:MAX_LANES], key=str)
             for k in range(len(free_at[w]))][:MAX_LANES]
    number = {key: n for n, key in enumerate(names)}
    lanes = [f"{w or '?'} #{k + 1}" for w, k in names]
    return lanes, {i: number[key] for i, key in lane_of.items() if key in number}


def task_detail(run, tid: str) -> dict:
    """One task's index row, parameters, summary and (when kept) decimated raster and voltage.

    Parameters
    ----------
    run : neunet.store.reader.Run
    tid : str
        A task id of the run (or a unique prefix of one).
    """
    from neunet.store.npz import NoDataError

    row = run.task(tid)
    tid = row["tid"]
    out = {"tid": tid, "row": json_safe(row), "params": json_safe(run.params(tid)),
           "summary": json_safe(run.summary(tid)), "raster": None, "voltage": None,
           "data": None}
    try:
        result = run.load(tid)
    except NoDataError as err:
        out["data"] = str(err)
        return out
    if "ras" in result:
        out["raster"] = _raster(np.asarray(result.ras, dtype=float).reshape(-1, 2))
    if "volt" in result:
        out["voltage"] = _voltage(result)
    return out


def json_safe(value):
    """`value` with NaN and infinities as None and numpy values as plain ones (for JSON)."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, (float, np.floating)):
        return finite(value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def _raster(ras: np.ndarray) -> dict:
    step = max(1, int(np.ceil(len(ras) / MAX_SPIKES)))
    part = ras[::step]
    return {"t_ms": [round(float(t), 3) for t in part[:, 1]],
            "neuron": [int(i) for i in part[:, 0]], "n_spikes": len(ras),
            "shown": len(part)}


def _voltage(result) -> dict:
    volt = np.asarray(result.volt, dtype=float)
    t_ms = np.asarray(result.t_ms, dtype=float)
    ids = np.asarray(result.extra.get("neuron_ids", np.arange(1, volt.shape[0] + 1)))
    traces = []
    for r in range(min(MAX_TRACES, volt.shape[0])):
        cols = _envelope(volt[r])
        traces.append({"neuron": int(ids[r]), "t_ms": [round(float(t), 4) for t in t_ms[cols]],
                       "v": [finite(v) for v in volt[r, cols]]})
    return {"traces": traces, "n_neurons": int(volt.shape[0]), "n_samples": int(volt.shape[1])}


def _envelope(v: np.ndarray) -> np.ndarray:
    """Sample indices keeping each of `MAX_POINTS` / 2 buckets' minimum and maximum (spikes
    stay visible), or all of them when there are few."""
    k = len(v)
    if k <= MAX_POINTS:
        return np.arange(k)
    size = -(-k // (MAX_POINTS // 2))
    pad = np.full(size * (-(-k // size)), np.nan)
    pad[:k] = np.where(np.isfinite(v), v, np.nan)
    blocks = pad.reshape(-1, size)
    base = np.arange(len(blocks)) * size
    safe = np.where(np.isnan(blocks), np.inf, blocks)
    lo = base + np.argmin(safe, axis=1)
    hi = base + np.argmax(np.where(np.isnan(blocks), -np.inf, blocks), axis=1)
    cols = np.sort(np.concatenate([lo, hi]))
    return np.unique(cols[cols < k])
