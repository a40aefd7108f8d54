"""Canonical form and hashing of parameter mappings: equal simulations give equal task ids.

`canonical` normalizes a mapping (defaults filled, per-neuron values collapsed, ``'auto'``
resolved, matrices replaced by content digests); `param_hash` is the first 16 hex digits of
the SHA-256 of its JSON, the task id and data-file key. numpy only; scipy.sparse is
recognised without importing scipy.
"""
from __future__ import annotations

import hashlib
import json

import numpy as np

from neunet.params import MATRIX_KEYS, PER_NEURON_KEYS, is_sparse, validate

# Number of hex digits of the parameter hash (the task id).
HASH_CHARS = 16


def kept_edges(net) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(post, pre, weight) of the edges the simulator keeps: no diagonal, no zero/non-finite."""
    if is_sparse(net):
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
    i, j, w = kept_edges(value)
    h = hashlib.sha256(b"edges%d;" % value.shape[0])
    for part in (i.astype("<i8"), j.astype("<i8"), w.astype("<f8")):
        h.update(np.ascontiguousarray(part).tobytes())
    return h.hexdigest()


def array_digest(value) -> str:
    """sha256 hex of a dense float matrix (shape and little-endian float64 content)."""
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
            value = {"sha256": array_digest(value)}
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
