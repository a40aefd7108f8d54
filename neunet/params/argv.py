"""Parameter mappings -> the simulator's command line: data-directory matrix files and flags.

`to_argv` turns a mapping into gen_neu flags (matrix values written to content-named files
in the data directory by `matrix_file`); `sim_command` prefixes the interpreter and
``-m neunet.sim``.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from neunet.atomic import atomic_write
from neunet.params import (
    BOOL_KEYS,
    MATRIX_KEYS,
    OPTIONAL_FLOAT_KEYS,
    PER_NEURON_KEYS,
    is_sparse,
    validate,
)
from neunet.params.hashing import HASH_CHARS, array_digest, kept_edges, matrix_digest

# Environment variable naming the data directory.
DATA_DIR_ENV = "NEUNET_DATA_DIR"
# Data directory when neither the environment nor the caller names one.
DEFAULT_DATA_DIR = "neunet_data"


def data_dir(path=None) -> Path:
    """The data directory: `path`, else $NEUNET_DATA_DIR, else ./neunet_data."""
    return Path(path or os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR)


def _fmt(x) -> str:
    return repr(float(x)) if isinstance(x, float) else str(x)


def _write_once(path: Path, text: str) -> str:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, text)
    return str(path)


def matrix_file(key, value, directory=None) -> tuple[str, bool]:
    """Write a matrix-valued parameter to the data directory, named by its content hash.

    Returns ``(path, sparse)``: a net given as scipy.sparse is written as 1-based
    ``i j a`` triplets (``--sparse-net``), a dense matrix as full text.
    """
    folder = data_dir(directory)
    if key == "net" and is_sparse(value):
        i, j, w = kept_edges(value)
        text = "".join(f"{a + 1} {b + 1} {c!r}\n" for a, b, c in zip(i.tolist(), j.tolist(),
                                                                   w.tolist()))
        return _write_once(folder / f"net-{matrix_digest(value)[:HASH_CHARS]}.sparse.txt",
                           "% sparse i j a\n" + text), True
    digest = matrix_digest(value) if key == "net" else array_digest(value)
    if key in ("input-event-path", "force-spike-list"):
        rows = ["%d %r" % (int(r[0]), float(r[1])) + (" %r" % float(r[2]) if len(r) > 2 else "")
                for r in value.tolist()]
    else:
        rows = [" ".join(repr(float(x)) for x in r) for r in value.tolist()]
    name = {"net": "net", "initial-state-path": "init", "input-event-path": "events",
            "synaptic-net-delay": "delay", "tau-g-path": "taug", "neuron-const-path": "consts",
            "force-spike-list": "spikes"}[key]
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

    Matrix-valued options (params.MATRIX_KEYS: the net, the initial state, input events,
    delays, per-neuron constants, forced spikes) are written to files in the data directory
    named by their content hash.

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
