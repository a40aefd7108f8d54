"""Owns a stored result's fingerprint: the SHA-256 of its summary and kept arrays.

`result_hash` is computed where the arrays are in memory (a worker's slot, `neunet.rerun`), and
`result_hash_of_file` streams a stored .npz (the coordinator never loads a 50 MB result), so
that `python -m neunet.rerun` can tell whether a re-run reproduced a task's stored result.
"""
from __future__ import annotations

import hashlib
import json
import math

import numpy as np


def _plain_number(value):
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        value = float(value)
        return repr(value) if not math.isfinite(value) else value
    return value


def result_hash(summary, arrays) -> str:
    """SHA-256 (hex) of a task's summary statistics and kept arrays.

    Parameters
    ----------
    summary : dict or None
        Statistic name -> number (as recorded).
    arrays : dict or None
        Name -> array of the kept data (None or empty when the filter kept nothing).
    """
    h = _summary_hash(summary)
    for name in sorted(arrays or {}):
        arr = np.ascontiguousarray(np.asarray(arrays[name]))
        h.update(f"\0{name}\0{arr.dtype.str}\0{arr.shape}\0".encode())
        h.update(arr.tobytes() if arr.dtype != object else repr(arr.tolist()).encode())
    return h.hexdigest()


def _summary_hash(summary):
    h = hashlib.sha256()
    plain = {str(k): _plain_number(v) for k, v in dict(summary or {}).items()}
    h.update(json.dumps(plain, sort_keys=True).encode())
    return h


def result_hash_of_file(summary, path) -> str:
    """`result_hash` of the arrays in the .npz file `path`, streamed from the file (a 50 MB
    result is hashed without being loaded: the coordinator's memory stays flat).

    Parameters
    ----------
    summary : dict or None
        Statistic name -> number (as recorded).
    path : str or Path
        An .npz archive written by `neunet.store.npz.encode_arrays`.
    """
    import zipfile

    from numpy.lib import format as npy
    with zipfile.ZipFile(path) as zf:
        members = {m[:-4]: m for m in zf.namelist() if m.endswith(".npy")}
        if len(members) != len(zf.namelist()):
            return _hash_loaded(summary, path)
        h = _summary_hash(summary)
        for name in sorted(members):
            with zf.open(members[name]) as fh:
                version = npy.read_magic(fh)
                if version not in ((1, 0), (2, 0)):
                    return _hash_loaded(summary, path)
                read_header = (npy.read_array_header_1_0 if version == (1, 0)
                               else npy.read_array_header_2_0)
                shape, fortran, dtype = read_header(fh)
                if fortran or dtype.hasobject:
                    return _hash_loaded(summary, path)
                shape = tuple(shape) or (1,)  # as np.ascontiguousarray in `result_hash`
                h.update(f"\0{name}\0{dtype.str}\0{shape}\0".encode())
                while block := fh.read(1 << 20):
                    h.update(block)
    return h.hexdigest()


def _hash_loaded(summary, path) -> str:
    with np.load(path, allow_pickle=False) as npz:
        return result_hash(summary, {name: npz[name] for name in npz.files})
