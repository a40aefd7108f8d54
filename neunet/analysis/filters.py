"""The smart filter: its schema (compile_filter) and the worker-side data reduction (apply_filter).

A sweep's TASKS.py may define ``filter``, plain data::

    filter = {
        "stats": ["mean_rate", "cv_isi", "chi"],   # summaries to compute (default: all)
        "keep_if": "mean_rate > 5 and cv_isi < 1.5",  # keep bulk data only when true
        "keep": ["ras", "volt"],                    # which arrays to keep (default: all)
        "neurons": [1, 2],                          # voltage of these 1-based ids only
        "window_ms": [100, 500],                    # time window kept (default: all)
        "downsample": 4,                            # every 4th sample of volt-like arrays
        "fano_window_ms": 50,                       # option of the `fano` statistic
    }

A string is short for ``{"keep_if": string}``. Summaries are always computed and kept.
`compile_filter` validates this and returns a spec (a plain msgpack-safe dict, the predicate
as a small tree); `apply_filter` runs on the worker and returns (summary, kept arrays or None).
Predicates use names (summary statistics, parameters with ``-`` written ``_``, and ``n`` =
number of neurons) in the safe language of `neunet.analysis.expr`.
"""
from __future__ import annotations

import numpy as np

from neunet.analysis import summary as _summary
from neunet.analysis.expr import (
    FilterError,
    alias,
    evaluate,
    parse_predicate,
    suggest,
    tree_names,
)
from neunet.result import Result

# Keys a filter dict may have.
FILTER_KEYS = ("stats", "keep_if", "keep", "neurons", "window_ms", "downsample",
               "fano_window_ms")
# Arrays a filter may keep (Result keys; "ion-gate" is accepted for "ion_gate").
KEEPABLE = ("volt", "ras", "isi", "conductance", "ion_gate", "poisson")
# Arrays with samples along their last axis (windowed and down-sampled).
SAMPLED = ("volt", "conductance", "ion_gate")
# Outputs every simulation records (the statistics need them); a filter keeping any other
# keepable array has it recorded too (`recorded_outputs`).
BASE_OUTPUTS = ("volt", "ras", "isi")
# Prefix of the per-neuron statistic arrays added to kept data (e.g. "pn_rate_hz").
PER_NEURON_PREFIX = "pn_"
# Version of the spec format, checked by apply_filter.
SPEC_VERSION = 1


# ----------------------------------------------------------------------------------------
# Compiling a user filter


def _check_stats(stats) -> list:
    if stats is None:
        return list(_summary.STATS)
    if isinstance(stats, str) or not all(isinstance(s, str) for s in stats):
        raise FilterError("stats must be a list of statistic names")
    for name in stats:
        if name not in _summary.STATS:
            raise FilterError(f"unknown statistic {name!r}{suggest(name, _summary.STATS)}; "
                              f"known: {', '.join(_summary.STATS)}")
    return list(dict.fromkeys(stats))


def _check_keep(keep) -> list | None:
    if keep is None:
        return None
    if isinstance(keep, str):
        keep = [keep]
    if not keep:
        raise FilterError("keep must name at least one array (leave it out to keep all; "
                          "keep_if decides whether anything is kept)")
    out = []
    for name in keep:
        key = "ion_gate" if name == "ion-gate" else name
        if key not in KEEPABLE:
            raise FilterError(f"cannot keep {name!r}{suggest(name, KEEPABLE)}; "
                              f"keepable: {', '.join(KEEPABLE)}")
        out.append(key)
    return out


def _check_neurons(neurons) -> list | None:
    if neurons is None:
        return None
    if isinstance(neurons, (int, np.integer)):
        neurons = [neurons]
    ids = []
    for nid in neurons:
        if isinstance(nid, bool) or not isinstance(nid, (int, np.integer)) or nid < 1:
            raise FilterError(f"neurons must be 1-based neuron ids, got {nid!r}")
        ids.append(int(nid))
    if not ids:
        raise FilterError("neurons must name at least one neuron")
    return ids


def _check_window(window) -> list | None:
    if window is None:
        return None
    try:
        start, end = (float(w) for w in window)
    except (TypeError, ValueError):
        raise FilterError(f"window_ms must be [start, end] in ms, got {window!r}") from None
    if not start < end:
        raise FilterError(f"window_ms start must be below end, got {window!r}")
    return [start, end]


def _check_positive(value, key, integer):
    if value is None:
        return None
    ok = isinstance(value, (int, np.integer)) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok or value <= 0:
        kind = "a positive integer" if integer else "a positive number"
        raise FilterError(f"{key} must be {kind}, got {value!r}")
    return int(value) if integer else float(value)


def _default_param_names():
    """Every parameter name of `neunet.params.parameters()`, or None if unavailable."""
    try:
        from neunet.params import parameters

        return list(parameters())
    except Exception:  # the interface is not importable here: names are checked on apply
        return None


def compile_filter(user_filter, param_names="auto") -> dict | None:
    """Validate a TASKS.py `filter` and turn it into a spec for `apply_filter`.

    Parameters
    ----------
    user_filter : dict, str or None
        The filter (see the module docstring); a string is a `keep_if` predicate.
    param_names : iterable of str, "auto" or None
        Parameter names the predicate may use (hyphens as underscores are accepted too);
        "auto" (default): those of `neunet.params.parameters()`. Unknown names are then
        refused here; with None they are only found when the filter runs on a worker.

    Returns
    -------
    dict or None
        A msgpack-safe spec, or None when there is no filter.

    Raises
    ------
    FilterError
        On any invalid part, with the column of an error in the predicate.
    """
    if user_filter is None:
        return None
    if isinstance(user_filter, str):
        user_filter = {"keep_if": user_filter}
    if not isinstance(user_filter, dict):
        raise FilterError(f"filter must be a dict or a predicate string, "
                          f"not {type(user_filter).__name__}")
    for key in user_filter:
        if key not in FILTER_KEYS:
            raise FilterError(f"unknown filter key {key!r}{suggest(key, FILTER_KEYS)}; "
                              f"keys: {', '.join(FILTER_KEYS)}")
    f = user_filter
    spec = {"version": SPEC_VERSION, "stats": _check_stats(f.get("stats")),
            "keep_if": None, "tree": None, "keep": _check_keep(f.get("keep")),
            "neurons": _check_neurons(f.get("neurons")),
            "window_ms": _check_window(f.get("window_ms")),
            "downsample": _check_positive(f.get("downsample"), "downsample", True),
            "fano_window_ms": _check_positive(f.get("fano_window_ms"), "fano_window_ms",
                                              False)}
    if f.get("keep_if") is not None:
        spec["keep_if"] = f["keep_if"]
        spec["tree"] = parse_predicate(f["keep_if"])
        if isinstance(param_names, str) and param_names == "auto":
            param_names = _default_param_names()
        _check_names(spec, param_names)
    return spec


def _check_names(spec, param_names):
    known = set(spec["stats"]) | {"n"}
    if param_names is not None:
        known |= {alias(p) for p in param_names} | set(param_names)
    for name, col in sorted(tree_names(spec["tree"]).items(), key=lambda item: item[1]):
        if name in _summary.STATS and name not in spec["stats"]:
            raise FilterError(f"keep_if {spec['keep_if']!r}, column {col}: {name!r} is "
                              "not in stats")
        if param_names is not None and name not in known:
            raise FilterError(f"keep_if {spec['keep_if']!r}, column {col}: unknown name "
                              f"{name!r}{suggest(name, known)}")


# ----------------------------------------------------------------------------------------
# Applying a spec on the worker


def _names(summary: dict, pm: dict, n: int) -> dict:
    names = {"n": n}
    for key, value in (pm or {}).items():
        if isinstance(value, np.generic):
            value = value.item()
        names[alias(key)] = value
        names[key] = value
    names.update(summary)
    return names


def recorded_outputs(spec) -> tuple:
    """Outputs the simulation must record for `spec`: the base ones, plus conductance,
    ion_gate or poisson when the filter keeps them (a `neunet.lab` with ``extra-data``)."""
    keep = (spec or {}).get("keep") or ()
    return BASE_OUTPUTS + tuple(k for k in KEEPABLE if k not in BASE_OUTPUTS and k in keep)


def keep_decision(spec, summary: dict, pm: dict, n: int) -> bool:
    """Whether the bulk data of a task is kept under `spec`."""
    if spec is None or spec.get("tree") is None:
        return True
    try:
        return bool(evaluate(spec["tree"], _names(summary, pm, n)))
    except FilterError as err:
        raise FilterError(f"keep_if {spec.get('keep_if')!r}: {err}") from None


def reduce_arrays(spec, result, pm=None) -> dict:
    """The arrays of `result` reduced as `spec` says (keep, neurons, window, downsample).

    `neurons` selects rows of the sampled arrays (volt, conductance, ion_gate); the raster
    and isi (small) keep every neuron. `window_ms` applies to samples and spikes,
    `downsample` to samples. Adds ``neuron_ids`` (1-based ids of the kept rows) when neurons
    are selected and ``t_ms`` (times of the kept samples) when samples are windowed or
    down-sampled.
    """
    spec = spec or {}
    arrays = result.to_arrays()
    keep = spec.get("keep") or [k for k in KEEPABLE if k in arrays]
    kept = {k: arrays[k] for k in keep if k in arrays}
    ids = spec.get("neurons")
    if ids and any(k in kept for k in SAMPLED):
        rows = np.array([i - 1 for i in ids if i <= result.n], dtype=np.int64)
        for key in SAMPLED:
            if key in kept:
                kept[key] = kept[key][rows]
        kept["neuron_ids"] = rows + 1
    _reduce_samples(spec, result, kept, pm)
    return {k: np.ascontiguousarray(v) for k, v in kept.items()}


def _reduce_samples(spec, result, kept, pm=None):
    window, step = spec.get("window_ms"), spec.get("downsample") or 1
    if window is not None and "ras" in kept:
        t = kept["ras"][:, 1]
        kept["ras"] = kept["ras"][(t >= window[0]) & (t <= window[1])]
    if window is None and step == 1:
        return
    if not any(k in kept for k in SAMPLED) or "volt" not in result:
        return
    t_ms = result.t_ms if result.pm is not None else Result(result.to_arrays(), pm=pm).t_ms
    idx = np.arange(t_ms.size)
    if window is not None:
        idx = idx[(t_ms >= window[0]) & (t_ms <= window[1])]
    idx = idx[::step]
    for key in SAMPLED:
        if key in kept:
            kept[key] = kept[key][..., idx]
    kept["t_ms"] = t_ms[idx]


def apply_filter(spec, result, pm=None):
    """Summarize one result and decide what of it travels back (runs on the worker).

    Parameters
    ----------
    spec : dict or None
        From `compile_filter` (None: all statistics, keep everything).
    result : Result
        The simulation's outputs.
    pm : dict, optional
        Its parameters (default: ``result.pm``).

    Returns
    -------
    summary : dict
        Statistic name -> float; always returned.
    kept : dict or None
        Arrays to store (reduced; plus per-neuron statistics ``pn_*``), or None when the
        predicate dropped the bulk data.
    """
    pm = pm if pm is not None else (result.pm or {})
    spec = spec or {}
    if spec and spec.get("version", SPEC_VERSION) != SPEC_VERSION:
        raise FilterError(f"filter spec version {spec.get('version')} is not {SPEC_VERSION}")
    options = {"fano_window_ms": spec.get("fano_window_ms")}
    basis = _summary.Basis(result, pm)  # the statistics and per-neuron arrays share its parts
    stats = _summary.summarize(basis, stats=spec.get("stats"), **options)
    if not keep_decision(spec, stats, pm, basis.n):
        return stats, None
    kept = reduce_arrays(spec, result, pm)
    window = spec.get("fano_window_ms") or _summary.FANO_WINDOW_MS
    for name, values in _summary.per_neuron(basis, fano_window_ms=window).items():
        kept[PER_NEURON_PREFIX + name] = np.asarray(values, dtype=float)
    return stats, kept
