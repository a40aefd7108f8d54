"""The cost model of one simulation: time_cost(pm) -> (quiet steps, seconds) and its inputs.

The cost is the simulator spec's number of quiet steps (section 11: T·n·(1/dt + r) for
`simple`, plus SSC re-integrations and delayed deliveries); the seconds apply per-model
constants measured on this engine (`neunet/sweep/cost_constants.py`, written by
`benchmarks/calibrate_cost.py`). Light: no numba.
"""
from __future__ import annotations

import bisect
import os

import numpy as np

from neunet import params
from neunet.params import hashing as params_hash
from neunet.sim.models import MODELS
from neunet.sweep import cost_constants

# Excitatory reversal potential of the HH models (mV): a constant current I equals a mean
# excitatory conductance of about I / 65.
HH_EXCITATORY_REVERSAL_MV = 65.0


def time_cost(pm) -> tuple[float, float]:
    """Estimated cost of one simulation: (quiet steps, seconds on this engine).

    The cost is the spec's number of quiet steps Q (section 11) for the method; the
    seconds apply the constants measured by `benchmarks/calibrate_cost.py`.

    Parameters
    ----------
    pm : Mapping
        Parameters.

    Returns
    -------
    (float, float)
        (Q, estimated seconds).
    """
    return _time_cost(params.validate(pm))


def _time_cost(pm_v) -> tuple[float, float]:
    feats = cost_features(pm_v)
    c = cost_constants.COEFFS
    model_s = cost_constants.SECONDS_PER_STEP[feats["model"]]
    return float(feats["Q"]), float(seconds_of(feats, model_s, c))


def seconds_of(feats: dict, model_s: float, c: dict) -> float:
    """Seconds predicted from cost features, a model's seconds per quiet step and the
    shared coefficients (see cost_constants)."""
    quiet = (feats["grid"] + c["ssc_grid"] * feats["grid_ssc"]
             + c["delay_grid"] * feats["grid_delay"] + c["event"] * feats["event"]
             + c["ssc"] * feats["ssc"] + c["delay"] * feats["delay"])
    return (model_s * quiet + c["step"] * feats["steps"] + c["syn"] * feats["syn"]
            + c["sample"] * feats["samples"] + c["fixed"])


def _mean_rate(value, n) -> float:
    return float(np.sum(value)) / n if isinstance(value, list) else float(value)


def density(net, n: int, sparse_file: bool = False) -> float:
    """Edge density (edges / (n(n-1))) of a validated net value.

    A net file is read once (cached by path and modification time); `sparse_file` says it
    holds ``i j a`` triplets (``'sparse-net'``).
    """
    if n < 2:
        return 0.0
    if isinstance(net, str):
        if net == "-":
            return 1.0
        if net == "--":
            return 1.0 / (n - 1)
        return _file_density(net, os.path.getmtime(net), n, sparse_file)
    return len(params_hash.kept_edges(net)[0]) / (n * (n - 1))


# Density of net files already read: (path, mtime, n, sparse) -> density.
_DENSITY_CACHE: dict = {}


def _file_density(path, mtime, n, sparse_file) -> float:
    key = (path, mtime, n, sparse_file)
    if key not in _DENSITY_CACHE:
        try:
            with open(path) as f:
                text = f.read()
            if sparse_file:
                rows = [ln.split() for ln in text.splitlines()
                        if ln.strip() and ln.lstrip()[0] not in "#%"]
                edges = {(r[0], r[1]) for r in rows if r[0] != r[1] and float(r[2]) != 0}
                count = len(edges)
            else:
                values = np.array(text.split()[:n * n], dtype=float).reshape(n, n)
                count = len(params_hash.kept_edges(values)[0])
            _DENSITY_CACHE[key] = count / (n * (n - 1))
        except (OSError, ValueError, IndexError):
            _DENSITY_CACHE[key] = 1.0             # unreadable here: assume all-to-all
    return _DENSITY_CACHE[key]


def firing_guess(pm_v, sp=None) -> float:
    """Guess of the mean firing rate (1/ms) from the mean input conductance.

    The model's synaptic time constants turn the Poisson input, and the recurrent input of
    the network at the guessed rate, into a mean conductance; the measured rate curve of
    the model family (cost_constants) turns that into a rate (a few fixed-point steps).
    """
    n = pm_v["nE"] + pm_v["nI"]
    base = MODELS[pm_v["neuron-model"]].cost_base
    tau_e, tau_i = cost_constants.TAU_PRODUCT[base]
    external = (_mean_rate(pm_v["pr"], n) * _mean_rate(pm_v["ps"], n) * tau_e
                - _mean_rate(pm_v["pri"], n) * _mean_rate(pm_v["psi"], n) * tau_i)
    if pm_v["neuron-model"].endswith("-extI"):
        external += pm_v["extI"] / HH_EXCITATORY_REVERSAL_MV
    sp = density(pm_v["net"], n, pm_v["sparse-net"]) if sp is None else sp
    # Mean conductance an E neuron gets per unit of network firing rate.
    recurrent = sp * (pm_v["nE"] * pm_v["scee"] * tau_e - pm_v["nI"] * pm_v["scei"] * tau_i)
    table = cost_constants.RATE_CURVE[base]
    f = _interp(external, table["drive"], table["rate"])
    for _ in range(8 if recurrent else 0):
        f = 0.5 * (f + _interp(external + recurrent * f, table["drive"], table["rate"]))
    return f


def _method(pm_v) -> str:
    """The simulation method, "auto" resolved as the simulator does."""
    method = pm_v["simulation-method"]
    if method != "auto":
        return method
    model = pm_v["neuron-model"]
    if model == "HH-GH-cont-syn":
        return "cont-syn"
    has_net = pm_v["synaptic-net-delay"] is not None
    if model == "IF-jump":
        return "IF-jump-delay" if has_net or pm_v["synaptic-delay"] is not None else "IF-jump"
    if has_net:
        return "big-net-delay"
    return "big-delay" if pm_v["synaptic-delay"] is not None else "SSC"


def _interp(x, xs, ys) -> float:
    """Piecewise-linear interpolation (clamped at both ends); scalar, faster than np.interp."""
    if x <= xs[0]:
        return float(ys[0])
    i = bisect.bisect_right(xs, x)
    if i >= len(xs):
        return float(ys[-1])
    x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
    return float(y0 + (y1 - y0) * (x - x0) / (x1 - x0))


def cost_features(pm_v, firing_rate=None) -> dict:
    """The terms of the cost model for a validated mapping (see `time_cost`).

    `firing_rate` (1/ms) replaces the guess when known (the calibration uses measured rates).
    """
    n = pm_v["nE"] + pm_v["nI"]
    total_ms = pm_v["t"] + pm_v["t-warming-up"]
    dt = pm_v["dt"]
    r = _mean_rate(pm_v["pr"], n) + _mean_rate(pm_v["pri"], n)
    sp = density(pm_v["net"], n, pm_v["sparse-net"])
    f = firing_guess(pm_v, sp) if firing_rate is None else firing_rate
    method = _method(pm_v)
    phi = max(0.0, 1.0 - n * f * dt / 4)
    spikes = total_ms * n * f
    # neurons an SSC method re-integrates per spike: all, or the post neurons (and itself)
    rolled = {"SSC": n, "SSC-Sparse": n * sp + 1, "SSC-Sparse2": n * sp}.get(method, 0.0)
    delayed = method in ("big-delay", "big-net-delay")
    feats = {"model": pm_v["neuron-model"], "steps": total_ms / dt, "grid": n * total_ms / dt,
             "event": total_ms * n * r * (n if method == "cont-syn" else 1),
             "syn": spikes * n * sp,
             "ssc": spikes * rolled * (2 + phi * r * dt),
             "delay": spikes * n * sp if delayed else 0.0,
             "samples": n * pm_v["t"] / pm_v["stv"]}
    feats["grid_ssc"] = feats["grid"] if rolled else 0.0
    feats["grid_delay"] = feats["grid"] if delayed else 0.0
    feats["Q"] = feats["grid"] + feats["event"] + feats["ssc"] + feats["delay"]
    return feats
