"""Owns where a sweep's numbers come from: run metadata, derived seeds and result hashes.

`run_meta` describes the software and command that made a run directory (neunet's version, the
git commit and a dirty flag when neunet runs from a checkout, Python/numpy/numba versions, the
command line). `derive_seed` gives a task without an explicit seed one that depends only on
the sweep's seed and the task's tid (not on workers or order). `result_hash` fingerprints a
task's stored result (its summary and kept arrays) so that `python -m neunet.rerun` can tell
whether a re-run reproduced it.
"""
from __future__ import annotations

import hashlib
import json
import math
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np

# Seconds a `git` query may take before the commit is recorded as unknown.
GIT_TIMEOUT_S = 5.0
# Seeds are integers in [0, SEED_LIMIT) (the simulator's MT19937 seed range).
SEED_LIMIT = 2 ** 32


def neunet_version() -> str:
    """The version of the neunet package that is running."""
    from neunet import __version__
    return __version__


def _module_version(name: str) -> str | None:
    from importlib import metadata   # here: ~17 ms that a worker slot (hashes only) skips
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def git_state(path=None) -> dict:
    """``{"commit": sha or None, "dirty": bool or None}`` of the checkout holding `path`.

    Parameters
    ----------
    path : str or Path, optional
        A file inside the checkout (default: this package's folder). Outside a git checkout,
        or without git, both values are None.
    """
    folder = Path(path or Path(__file__).resolve().parent)
    folder = folder if folder.is_dir() else folder.parent

    def git(*args):
        return subprocess.run(["git", "-C", str(folder), *args], capture_output=True,
                              text=True, timeout=GIT_TIMEOUT_S, check=True).stdout.strip()
    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": dirty}


def run_meta(argv=None) -> dict:
    """Software versions and the command line of this process, for a run directory's meta.

    Parameters
    ----------
    argv : list of str, optional
        The command line to record (default ``sys.argv``).
    """
    return {"neunet_version": neunet_version(), **{f"git_{k}": v for k, v in git_state().items()},
            "python": platform.python_version(), "numpy": np.__version__,
            "numba": _module_version("numba"), "host": platform.node(),
            "command": [sys.executable, *(sys.argv if argv is None else argv)]}


def derive_seed(sweep_seed: int, tid: str) -> int:
    """The seed of task `tid` in a sweep seeded with `sweep_seed` (in [0, 2**32)).

    Parameters
    ----------
    sweep_seed : int
    tid : str
        The task id (the hash of the user's parameters, computed before the seed is added).
    """
    digest = hashlib.sha256(f"{int(sweep_seed)}:{tid}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % SEED_LIMIT


def with_seed(pm: dict, sweep_seed: int, tid: str) -> dict:
    """`pm` with a derived seed when it has none (``seed`` None); explicit seeds are kept."""
    if pm.get("seed") is not None:
        return pm
    return {**pm, "seed": [derive_seed(sweep_seed, tid)]}


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
        An .npz archive written by `neunet.store_npz.encode_arrays`.
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
