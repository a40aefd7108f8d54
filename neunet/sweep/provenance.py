"""Owns where a sweep's numbers come from: run metadata and derived seeds.

`run_meta` describes the software and command that made a run directory (neunet's version, the
git commit and a dirty flag when neunet runs from a checkout, Python/numpy/numba versions, the
command line). `derive_seed` gives a task without an explicit seed one that depends only on
the sweep's seed and the task's tid (not on workers or order). (A result's fingerprint,
`result_hash`, is the store's: `neunet.store.digest`.)
"""
from __future__ import annotations

import hashlib
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
    from importlib import metadata  # here: ~17 ms that a worker slot (hashes only) skips
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
