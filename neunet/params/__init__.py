"""Parameter mappings of one simulation: defaults, validation with suggestions, plain form.

A parameter mapping is a plain dict keyed with the spelling of the original interface
(``'neuron-model'``, ``'simulation-method'``, ``'net'``, ``'t'``, ``'pr'``, ...), one key per
option of the simulator's command line. `validate` checks a mapping before anything runs and
`plain` makes it JSON/msgpack-safe. The canonical form and its hash (`param_hash`, naming
data files and tasks) are in `neunet.params.hashing`; the simulator's command line (`to_argv`)
is in `neunet.params.argv`. This module is light (numpy only; scipy.sparse is recognised
without importing scipy).
"""
from __future__ import annotations

import difflib
import math
import numbers
import os

import numpy as np

from neunet.sim import models as _sim_models
from neunet.sim.models import MODELS, REFERENCE_ONLY_METHODS, REFERENCE_ONLY_MODELS

# Method names a parameter set may give ("auto": the simulator chooses, as the reference does).
METHODS = _sim_models.METHODS + (_sim_models.AUTO,)
# Reference options neunet's simulator does not implement (keys accepted only as None).
UNSUPPORTED_KEYS = _sim_models.REFERENCE_ONLY_OPTIONS + ("parameter-path",)
# Options that are one value per neuron (a scalar broadcasts, k values set neurons 1..k).
PER_NEURON_KEYS = ("pr", "ps", "pri", "psi")
# Float options that must be >= 0 when given.
NONNEG_FLOAT_KEYS = ("t-warming-up", "scee", "scie", "scei", "scii",
                     "current-sine-freq")
# Float options that may be None (not given) or any finite number.
OPTIONAL_FLOAT_KEYS = ("set-threshold", "extI", "synaptic-delay", "refractory-time")
# On/off flags.
BOOL_KEYS = ("sparse-net", "no-threshold", "output-first-data-point", "reference-quirks")
# Keys whose value may be a file path or an in-memory matrix written to a data file.
MATRIX_KEYS = ("net", "initial-state-path", "input-event-path", "synaptic-net-delay",
               "tau-g-path", "neuron-const-path", "force-spike-list")


class ParameterError(ValueError):
    """A parameter mapping is invalid; the message names the key and the problem."""


def parameters() -> dict:
    """Return the default parameter mapping (a fresh dict on every call).

    The defaults are the simulator's own wherever it has one (``neunet-sim`` without the
    option runs the same): in particular the couplings ``scee``, ``scie``, ``scei`` and
    ``scii`` are 0 (uncoupled neurons; the original Python interface had 0.05, which drives
    networks of more than a few neurons into runaway firing). The exceptions, kept from the
    original interface: model HH-PT-GH, method simple, net ``'-'``, ``t`` 100 ms, and Poisson
    input ``pr`` 0.1/ms of strength ``ps`` 0.014. ``neunet.describe(key)`` says what each
    key means and its unit; ``neunet.describe()`` lists them all.

    Returns
    -------
    dict
        One key per simulator option, in the original interface's spelling. ``None`` means
        "not given" (the simulator's default applies); ``'stv': None`` samples every ``dt``.
    """
    return {
        "neuron-model": "HH-PT-GH", "simulation-method": "simple", "net": "-",
        "sparse-net": False, "t": 100.0, "dt": 1.0 / 32.0, "stv": None,
        "t-warming-up": 0.0, "nE": 1, "nI": 0,
        "pr": 0.1, "ps": 0.014, "pri": 0.0, "psi": 0.0,
        "scee": 0.0, "scie": 0.0, "scei": 0.0, "scii": 0.0,
        "seed": None, "set-threshold": None, "no-threshold": False,
        "current-sine-amp": 0.0, "current-sine-freq": 0.0, "extI": None,
        "synaptic-delay": None, "refractory-time": None,
        "output-first-data-point": False, "initial-state-path": None,
        "input-event-path": None, "reference-quirks": False,
        "tau-g-path": None, "neuron-const-path": None, "force-spike-list": None,
        "synaptic-net-delay": None, "parameter-path": None,
    }


# The default mapping, used to fill keys a partial mapping leaves out.
_DEFAULTS = parameters()
# All valid keys.
KEYS = tuple(_DEFAULTS)


def suggest(word: str, choices) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest choice, or ``""``."""
    choices = [str(c) for c in choices]
    norm = {c.lower().replace("_", "-"): c for c in choices}
    key = str(word).lower().replace("_", "-")
    if key in norm:
        return f" (did you mean {norm[key]!r}?)"
    close = difflib.get_close_matches(key, list(norm), n=1, cutoff=0.5)
    return f" (did you mean {norm[close[0]]!r}?)" if close else ""


def _err(key, problem):
    raise ParameterError(f"parameter {key!r}: {problem}")


def is_sparse(value) -> bool:
    """True for a scipy.sparse matrix (recognised without importing scipy)."""
    return hasattr(value, "tocoo") and hasattr(value, "nnz")


def _real(key, value, *, positive=False, nonneg=False) -> float:
    if type(value) is not float and type(value) is not int and (
            isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real)):
        _err(key, f"expected a number, got {type(value).__name__} {value!r}")
    x = float(value)
    if not math.isfinite(x):
        _err(key, f"must be finite, got {x!r}")
    if positive and x <= 0:
        _err(key, f"must be > 0, got {x!r}")
    if nonneg and x < 0:
        _err(key, f"must be >= 0, got {x!r}")
    return x


def _count(key, value) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        if (isinstance(value, numbers.Real) and float(value).is_integer()
                and not isinstance(value, bool)):
            value = int(value)
        else:
            _err(key, f"expected a whole number, got {value!r}")
    if value < 0:
        _err(key, f"must be >= 0, got {value!r}")
    return int(value)


def _per_neuron(key, value, n) -> list | float:
    """A scalar, or a list of at most n values >= 0 (neurons beyond keep 0)."""
    if type(value) is float or type(value) is int:
        return _real(key, value, nonneg=True)
    if isinstance(value, (str, bytes, dict)) or value is None:
        _err(key, f"expected a number or a sequence of numbers, got {value!r}")
    if np.ndim(value) == 0:
        return _real(key, value, nonneg=True)
    values = [_real(key, v, nonneg=True) for v in np.asarray(value, dtype=object).ravel()]
    if not values:
        _err(key, "is an empty sequence")
    if len(values) > n:
        _err(key, f"has {len(values)} values but there are only {n} neurons")
    return values


def _seed(value):
    if value is None or value == "auto":
        return value
    if isinstance(value, str):
        _err("seed", f"expected an integer, a list of integers, 'auto' or None, got {value!r}")
    seeds = [value] if np.ndim(value) == 0 else list(np.asarray(value, dtype=object).ravel())
    out = []
    for s in seeds:
        if isinstance(s, (bool, np.bool_)) or not isinstance(s, numbers.Integral) \
                or not 0 <= int(s) < 2 ** 32:
            _err("seed", f"each seed must be an integer in [0, 2**32), got {s!r}")
        out.append(int(s))
    if not out:
        _err("seed", "is an empty sequence")
    return out


def _matrix(key, value, n, n_cols):
    """Validate a path-or-matrix value; returns the path, a float ndarray or a sparse matrix.

    n_cols None means any number of rows (an event list); otherwise the shape must be n x n_cols.
    """
    if isinstance(value, (str, os.PathLike)):
        path = os.fspath(value)
        if not (key == "net" and path in ("-", "--")) and not os.path.isfile(path):
            _err(key, f"file not found: {path}")
        return path
    if isinstance(value, dict):
        value = triplets_to_sparse(key, value)
    if is_sparse(value):
        if key != "net":
            _err(key, "a sparse matrix is only accepted for 'net'")
        if value.shape != (n, n):
            _err(key, f"matrix is {value.shape[0]}x{value.shape[1]}, expected {n}x{n} (nE + nI)")
        if not np.all(np.isfinite(value.tocoo().data)):
            _err(key, "contains non-finite values")
        return value
    try:
        arr = np.array(value, dtype=float)
    except (TypeError, ValueError):
        _err(key, f"expected a path or a numeric matrix, got {type(value).__name__}")
    if arr.ndim != 2 or (n_cols is not None and arr.shape != (n, n_cols)):
        want = f"{n}x{n_cols}" if n_cols is not None else "k x 2 or k x 3"
        _err(key, f"matrix has shape {arr.shape}, expected {want}")
    if not np.all(np.isfinite(arr)):
        _err(key, "contains non-finite values" + (" (use 0 for no edge)" if key == "net" else ""))
    return arr


def triplets_to_sparse(key, d):
    """Rebuild a scipy.sparse matrix from the plain form ``{'shape', 'row', 'col', 'data'}``."""
    try:
        from scipy import sparse
        return sparse.coo_matrix((np.asarray(d["data"], dtype=float),
                                  (np.asarray(d["row"], dtype=np.int64),
                                   np.asarray(d["col"], dtype=np.int64))),
                                 shape=tuple(d["shape"]))
    except (KeyError, TypeError, ValueError) as exc:
        _err(key, f"bad sparse matrix form ({exc}); expected keys shape, row, col, data")


def validate(pm) -> dict:
    """Check a parameter mapping and return a normalized copy (missing keys get defaults).

    Parameters
    ----------
    pm : Mapping
        Parameters keyed as in `parameters()`.

    Returns
    -------
    dict
        A new dict with every key; numbers as float/int, per-neuron values as float or list,
        matrices as float ndarray or scipy.sparse, paths as str.

    Raises
    ------
    ParameterError
        Naming the key and the problem (with the closest key for a typo).
    """
    if not hasattr(pm, "items"):
        raise ParameterError(f"parameters must be a mapping, got {type(pm).__name__}")
    for key in pm:
        if key not in _DEFAULTS:
            raise ParameterError(f"unknown parameter {key!r}{suggest(key, KEYS)}")
    out = dict(_DEFAULTS)
    out.update(pm)
    _check_model_method(out)
    for key in ("t", "dt"):
        out[key] = _real(key, out[key], positive=True)
    out["stv"] = out["dt"] if out["stv"] is None else _real("stv", out["stv"], positive=True)
    _check_sampling(out["t"], out["dt"], out["stv"])
    for key in NONNEG_FLOAT_KEYS:
        out[key] = _real(key, out[key], nonneg=True)
    out["current-sine-amp"] = _real("current-sine-amp", out["current-sine-amp"])
    for key in OPTIONAL_FLOAT_KEYS:
        if out[key] is not None:
            out[key] = _real(key, out[key])
    for key in BOOL_KEYS:
        if not isinstance(out[key], (bool, np.bool_)):
            _err(key, f"expected True or False, got {out[key]!r}")
        out[key] = bool(out[key])
    out["nE"], out["nI"] = _count("nE", out["nE"]), _count("nI", out["nI"])
    n = out["nE"] + out["nI"]
    if n == 0:
        _err("nE", "nE + nI must be at least 1")
    for key in PER_NEURON_KEYS:
        out[key] = _per_neuron(key, out[key], n)
    out["seed"] = _seed(out["seed"])
    out["net"] = _matrix("net", out["net"], n, n)
    out["initial-state-path"] = (None if out["initial-state-path"] is None else _matrix(
        "initial-state-path", out["initial-state-path"], n, MODELS[out["neuron-model"]].n_state))
    out["input-event-path"] = (None if out["input-event-path"] is None else _check_events(
        _matrix("input-event-path", out["input-event-path"], n, None), n))
    _check_file_matrices(out, n)
    _check_options(out)
    return out


def _check_file_matrices(pm, n):
    """Delays (n x n), per-neuron constants (n x 4, n x the model's count) and forced
    spikes (k x 2): paths, or matrices of these shapes (in place)."""
    consts = _sim_models.HETEROGENEOUS.get(pm["neuron-model"], ())
    for key, cols in (("synaptic-net-delay", n), ("tau-g-path", 4),
                      ("neuron-const-path", len(consts) or None)):
        if pm[key] is not None:
            pm[key] = _matrix(key, pm[key], n, cols)
    spikes = pm["force-spike-list"]
    if spikes is not None:
        spikes = pm["force-spike-list"] = _matrix("force-spike-list", spikes, n, None)
        if isinstance(spikes, np.ndarray) and spikes.shape[1] != 2:
            _err("force-spike-list", f"needs 2 columns (id, time_ms), got {spikes.shape[1]}")


def _check_model_method(pm):
    model, method = pm["neuron-model"], pm["simulation-method"]
    if model not in MODELS:
        if model in REFERENCE_ONLY_MODELS:
            _err("neuron-model", f"{model!r} is a reference gen_neu model not supported by neunet")
        _err("neuron-model", f"unknown model {model!r}{suggest(model, MODELS)}; "
                             f"choose one of {', '.join(MODELS)}")
    if method not in METHODS:
        if method in REFERENCE_ONLY_METHODS:
            _err("simulation-method", f"{method!r} is a reference gen_neu method not supported "
                                      f"by neunet (use {', '.join(METHODS)})")
        _err("simulation-method", f"unknown method {method!r}{suggest(method, METHODS)}; "
                                  f"choose one of {', '.join(METHODS)}")


def _check_sampling(t, dt, stv):
    if dt > stv:
        _err("stv", f"must be >= dt ({dt!r}), got {stv!r}")
    if stv > t:
        _err("stv", f"must be <= t ({t!r}), got {stv!r}")
    if stv / math.floor(stv / dt + 0.5) != dt:
        _err("stv", f"must be a whole multiple of dt exactly in floating point "
                    f"(stv={stv!r}, dt={dt!r})")


def _check_events(value, n):
    if isinstance(value, np.ndarray):
        if value.shape[1] not in (2, 3):
            _err("input-event-path", f"event matrix must have 2 or 3 columns (id, time_ms"
                                     f"[, strength]), got {value.shape[1]}")
        ids = value[:, 0]
        if value.size and (np.any(ids != np.round(ids)) or ids.min() < 1 or ids.max() > n):
            _err("input-event-path", f"event ids must be whole numbers in 1..{n}")
        if not np.all(np.isfinite(value)):
            _err("input-event-path", "contains non-finite values")
    return value


def _check_options(pm):
    for key in UNSUPPORTED_KEYS:
        if pm[key] is not None:
            _err(key, "not needed from Python: set the keys of the mapping directly"
                 if key == "parameter-path" else
                 "this gen_neu option is not supported by neunet's simulator")
    model, method, delay = pm["neuron-model"], pm["simulation-method"], pm["synaptic-delay"]
    if model.endswith("-extI") and pm["extI"] is None:
        _err("extI", f"model {model!r} needs a constant external current 'extI'")
    if delay is not None:
        if delay <= pm["dt"]:
            _err("synaptic-delay", f"must be > dt ({pm['dt']!r}), got {delay!r}")
        if method not in ("big-delay", "big-net-delay", "IF-jump-delay", "auto"):
            _err("synaptic-delay", f"needs simulation-method 'big-delay' (or 'auto'), "
                                   f"not {method!r}")
        if model == "DIF-single-GH":
            _err("synaptic-delay", "DIF-single-GH cannot be simulated with a delay")
    elif method == "big-delay":
        _err("simulation-method", "'big-delay' needs 'synaptic-delay' (a constant delay in ms)")
    if pm["refractory-time"] is not None and pm["refractory-time"] < 0:
        _err("refractory-time", f"must be >= 0, got {pm['refractory-time']!r}")


# Value types plain() passes through unchanged.
_PLAIN_SCALARS = frozenset((int, float, str, bool, type(None)))


def plain(pm) -> dict:
    """A JSON/msgpack-safe copy of a mapping: numpy to lists, sparse to a triplet dict."""
    return {key: _plain_value(value) for key, value in pm.items()}


def _plain_value(value):
    if type(value) in _PLAIN_SCALARS:         # most values: nothing to convert
        return value
    if is_sparse(value):
        coo = value.tocoo()
        return {"shape": [int(s) for s in coo.shape], "row": coo.row.tolist(),
                "col": coo.col.tolist(), "data": coo.data.tolist()}
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (list, tuple)):
        return [_plain_value(x) for x in value]
    if isinstance(value, dict):
        return {k: _plain_value(v) for k, v in value.items()}
    return value
