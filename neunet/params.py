"""Parameter mappings of one simulation: defaults, validation with suggestions, canonical form, hashing, argv.

A parameter mapping is a plain dict keyed with the spelling of the original interface
(``'neuron-model'``, ``'simulation-method'``, ``'net'``, ``'t'``, ``'pr'``, ...), one key per
option of the simulator's command line. `validate` checks a mapping before anything runs,
`canonical` gives the normalized form whose hash (`param_hash`) names data files and tasks,
and `to_argv` turns it into the simulator's command-line flags. This module is light (numpy
only; scipy.sparse is recognised without importing scipy).
"""
from __future__ import annotations

import difflib
import hashlib
import json
import math
import numbers
import os
import sys
import uuid
from pathlib import Path

import numpy as np

# Models neunet's simulator runs -> number of state variables per neuron (initial-state order).
MODELS = {
    "LIF-G": 3, "LIF-GH": 5, "DIF-single-GH": 5,
    "HH-G": 6, "HH-GH": 8, "HH-PT-GH": 8, "HH-FT-GH": 8,
    "HH-G-sine": 6, "HH-GH-sine": 8, "HH-PT-GH-sine": 8, "HH-FT-GH-sine": 8,
    "HH-G-extI": 6, "HH-GH-extI": 8,
}
# Models of the reference simulator that neunet does not implement.
REFERENCE_ONLY_MODELS = ("HH-GH-cont-syn", "IF-jump", "Hawkes-GH")
# Simulation methods neunet's simulator runs ("auto" is resolved as the reference does).
METHODS = ("simple", "SSC", "big-delay", "auto")
# Methods of the reference simulator that neunet does not implement.
REFERENCE_ONLY_METHODS = ("SSC-Sparse", "SSC-Sparse2", "big-net-delay", "cont-syn",
                          "IF-jump", "IF-jump-delay")
# Reference options neunet's simulator does not implement (keys accepted only as None).
UNSUPPORTED_KEYS = ("tau-g-path", "neuron-const-path", "force-spike-list",
                    "synaptic-net-delay", "parameter-path")
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
MATRIX_KEYS = ("net", "initial-state-path", "input-event-path")
# Environment variable naming the data directory.
DATA_DIR_ENV = "NEUNET_DATA_DIR"
# Data directory when neither the environment nor the caller names one.
DEFAULT_DATA_DIR = "neunet_data"
# Number of hex digits of the parameter hash (the task id).
HASH_CHARS = 16


class ParameterError(ValueError):
    """A parameter mapping is invalid; the message names the key and the problem."""


def parameters() -> dict:
    """Return the default parameter mapping (a fresh dict on every call).

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
        "scee": 0.05, "scie": 0.05, "scei": 0.05, "scii": 0.05,
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


def _is_sparse(value) -> bool:
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
        if isinstance(value, numbers.Real) and float(value).is_integer() and not isinstance(value, bool):
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
    if _is_sparse(value):
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
        "initial-state-path", out["initial-state-path"], n, MODELS[out["neuron-model"]]))
    out["input-event-path"] = (None if out["input-event-path"] is None else _check_events(
        _matrix("input-event-path", out["input-event-path"], n, None), n))
    _check_options(out)
    return out


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
        if method not in ("big-delay", "auto"):
            _err("synaptic-delay", f"needs simulation-method 'big-delay' (or 'auto'), "
                                   f"not {method!r}")
        if model == "DIF-single-GH":
            _err("synaptic-delay", "DIF-single-GH cannot be simulated with a delay")
    elif method == "big-delay":
        _err("simulation-method", "'big-delay' needs 'synaptic-delay' (a constant delay in ms)")
    if pm["refractory-time"] is not None and pm["refractory-time"] < 0:
        _err("refractory-time", f"must be >= 0, got {pm['refractory-time']!r}")


# ---------------------------------------------------------------- canonical form and hashing

def _edges(net) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(post, pre, weight) of the edges the simulator keeps: no diagonal, no zero/non-finite."""
    if _is_sparse(net):
        coo = net.tocoo()
        i, j, w = coo.row.astype(np.int64), coo.col.astype(np.int64), coo.data.astype(float)
        n = net.shape[0]
        key = i * n + j
        uniq, inv = np.unique(key, return_inverse=True)
        w = np.bincount(inv, weights=w, minlength=len(uniq))
        i, j = uniq // n, uniq % n
    else:
        i, j = np.nonzero(net)
        w = net[i, j]
    keep = (i != j) & np.isfinite(w) & (w != 0)
    return i[keep], j[keep], w[keep]


def matrix_digest(value) -> str:
    """sha256 hex of a net's content: the edge list the simulator keeps (dense = sparse)."""
    i, j, w = _edges(value)
    h = hashlib.sha256(b"edges%d;" % value.shape[0])
    for part in (i.astype("<i8"), j.astype("<i8"), w.astype("<f8")):
        h.update(np.ascontiguousarray(part).tobytes())
    return h.hexdigest()


def _array_digest(value) -> str:
    h = hashlib.sha256(repr(value.shape).encode())
    h.update(np.ascontiguousarray(value, dtype="<f8").tobytes())
    return h.hexdigest()


def _full(value, n):
    """Per-neuron value as the simulator sees it: scalar when all neurons are equal."""
    if isinstance(value, list):
        full = value + [0.0] * (n - len(value))
        return full[0] if all(v == full[0] for v in full) else full
    return value


def canonical(pm) -> dict:
    """The normalized form of a parameter mapping: equal simulations give equal forms.

    Missing keys take their defaults; numbers become float/int; per-neuron lists are
    expanded to n values and collapsed to a scalar when all equal; ``stv`` None becomes
    ``dt``; ``'auto'`` method is resolved; matrices are replaced by their content digest
    (``{'sha256': ...}``); the result is sorted by key and JSON-safe (floats repr-exact).
    """
    return _canonical(validate(pm))


def _canonical(v) -> dict:
    n = v["nE"] + v["nI"]
    out = {}
    for key in sorted(v):
        value = v[key]
        if key in PER_NEURON_KEYS:
            value = _full(value, n)
        elif key == "net" and not isinstance(value, str):
            value = {"sha256": matrix_digest(value)}
        elif key in MATRIX_KEYS and isinstance(value, np.ndarray):
            value = {"sha256": _array_digest(value)}
        out[key] = value
    if out["simulation-method"] == "auto":
        out["simulation-method"] = "big-delay" if v["synaptic-delay"] is not None else "SSC"
    if not isinstance(v["net"], str):
        out["sparse-net"] = False
    return out


def canonical_json(pm) -> str:
    """Canonical form as compact JSON with sorted keys."""
    return json.dumps(canonical(pm), sort_keys=True, separators=(",", ":"), allow_nan=False)


def param_hash(pm) -> str:
    """First 16 hex digits of sha256(canonical JSON): the task id and data-file key."""
    return hash_validated(validate(pm))


def hash_validated(v) -> str:
    """`param_hash` of a mapping `validate` already returned (skips validating again)."""
    text = json.dumps(_canonical(v), sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()[:HASH_CHARS]


def plain(pm) -> dict:
    """A JSON/msgpack-safe copy of a mapping: numpy to lists, sparse to a triplet dict."""
    return {key: _plain_value(value) for key, value in pm.items()}


def _plain_value(value):
    if _is_sparse(value):
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


# ---------------------------------------------------------------- command line

def data_dir(path=None) -> Path:
    """The data directory: `path`, else $NEUNET_DATA_DIR, else ./neunet_data."""
    return Path(path or os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR)


def _fmt(x) -> str:
    return repr(float(x)) if isinstance(x, float) else str(x)


def _write_once(path: Path, text: str) -> str:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
    return str(path)


def matrix_file(key, value, directory=None) -> tuple[str, bool]:
    """Write a matrix-valued parameter to the data directory, named by its content hash.

    Returns ``(path, sparse)``: a net given as scipy.sparse is written as 1-based
    ``i j a`` triplets (``--sparse-net``), a dense matrix as full text.
    """
    folder = data_dir(directory)
    if key == "net" and _is_sparse(value):
        i, j, w = _edges(value)
        text = "".join(f"{a + 1} {b + 1} {c!r}\n" for a, b, c in zip(i.tolist(), j.tolist(),
                                                                   w.tolist()))
        return _write_once(folder / f"net-{matrix_digest(value)[:HASH_CHARS]}.sparse.txt",
                           "% sparse i j a\n" + text), True
    digest = matrix_digest(value) if key == "net" else _array_digest(value)
    if key == "input-event-path":
        rows = ["%d %r" % (int(r[0]), float(r[1])) + (" %r" % float(r[2]) if len(r) > 2 else "")
                for r in value.tolist()]
    else:
        rows = [" ".join(repr(float(x)) for x in r) for r in value.tolist()]
    name = {"net": "net", "initial-state-path": "init", "input-event-path": "events"}[key]
    return _write_once(folder / f"{name}-{digest[:HASH_CHARS]}.txt",
                       "".join(row + "\n" for row in rows)), False


def _flag(argv, name, value):
    text = value if isinstance(value, str) else _fmt(value)
    if text.startswith("-"):
        argv.append(f"--{name}={text}")
    else:
        argv += [f"--{name}", text]


def to_argv(pm, directory=None) -> list[str]:
    """gen_neu flags (without the program name) for a parameter mapping.

    Matrix-valued ``'net'``, ``'initial-state-path'`` and ``'input-event-path'`` are written
    to files in the data directory named by their content hash.

    Parameters
    ----------
    pm : Mapping
        Parameters (validated here).
    directory : str or Path, optional
        Data directory for matrix files (default: see `data_dir`).
    """
    v = validate(pm)
    argv = ["--neuron-model", v["neuron-model"], "--simulation-method", v["simulation-method"]]
    sparse = v["sparse-net"]
    for key in MATRIX_KEYS:
        value = v[key]
        if value is None:
            continue
        if not isinstance(value, str):
            value, sparse_file = matrix_file(key, value, directory)
            sparse = sparse_file if key == "net" else sparse
        _flag(argv, key, value)
    for key in ("t", "dt", "stv", "t-warming-up", "nE", "nI", "scee", "scie", "scei", "scii"):
        _flag(argv, key, v[key])
    for key in PER_NEURON_KEYS:
        values = v[key] if isinstance(v[key], list) else [v[key]]
        argv += [f"--{key}", *(_fmt(x) for x in values)]
    if v["seed"] is not None:
        argv += ["--seed", *([v["seed"]] if v["seed"] == "auto" else map(str, v["seed"]))]
    for key in ("current-sine-amp", "current-sine-freq"):
        if v[key] != 0.0:
            _flag(argv, key, v[key])
    for key in OPTIONAL_FLOAT_KEYS:
        if v[key] is not None:
            _flag(argv, key, v[key])
    flags = dict(v, **{"sparse-net": sparse})
    argv += [f"--{key}" for key in BOOL_KEYS if flags[key]]
    return argv


def sim_command(pm, directory=None) -> list[str]:
    """The full command: ``[sys.executable, '-m', 'neunet.sim', *to_argv(pm)]``."""
    return [sys.executable, "-m", "neunet.sim", *to_argv(pm, directory)]
