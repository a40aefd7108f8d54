"""gen_neu(pm, mode) and simulate(pm): one simulation from Python (files cached by parameter hash).

`gen_neu` runs the simulator's command line (the command `mode='cmd'` returns) in this
Python session's warm simulator process (`neunet.sim.warm.session`: started on first use,
reused, restarted after a crash), writing its output files into the data directory under a
key derived from the parameters, reads them back into a `Result` and (mode ``rm``, the
default) deletes them. `simulate` runs the same simulation in-process through the same argv
parser and returns the same `Result`.
"""
from __future__ import annotations

import hashlib
import json
import os
import shlex
import sys
import threading
import time
from pathlib import Path

import numpy as np

from neunet import params
from neunet.atomic import atomic_write
from neunet.live import VoltReader
from neunet.params import argv as params_argv
from neunet.params import hashing as params_hash
from neunet.result import KIND_OF_KEY, Result

# Mode words gen_neu understands.
MODE_WORDS = ("v", "rm", "no-rm", "read", "nameX", "cmd", "extra-data", "live")
# Output kind -> (file suffix, simulator flag); volt, ras and isi are always written.
FILES = {"volt": (".volt.dat", "--volt-path"), "ras": (".ras.txt", "--ras-path"),
         "isi": (".isi.txt", "--isi-path"),
         "conductance": (".conductance.dat", "--conductance-path"),
         "ion_gate": (".ion_gate.dat", "--ion-gate-path")}
# Seconds between two reads of the growing volt file in live mode.
POLL_INTERVAL_S = 0.25
# Name of the manifest written last, once all data files of a run are in place.
MANIFEST_SUFFIX = ".json"


class SimulatorError(RuntimeError):
    """The simulator failed; carries its exit code (negative: killed by that signal), its
    stderr and the command line."""

    def __init__(self, message, returncode=None, stderr="", cmd=None):
        super().__init__(message)
        self.returncode, self.stderr, self.cmd = returncode, stderr, cmd


def parse_mode(mode: str) -> set:
    """Split a mode string into a set of words, checking each word and combination."""
    if not isinstance(mode, str):
        raise TypeError(f"mode must be a string of words such as 'v rm', got {mode!r}")
    words = set(mode.split())
    for word in words:
        if word not in MODE_WORDS:
            raise ValueError(f"unknown gen_neu mode word {word!r}"
                             f"{params.suggest(word, MODE_WORDS)}; "
                             f"known words: {' '.join(MODE_WORDS)}")
    if {"rm", "no-rm"} <= words:
        raise ValueError("gen_neu mode: 'rm' and 'no-rm' contradict each other")
    for a, b in (("cmd", "read"), ("live", "read"), ("live", "cmd")):
        if {a, b} <= words:
            raise ValueError(f"gen_neu mode: {a!r} cannot be combined with {b!r}")
    return words


def _kinds(pm, extra: bool) -> list:
    kinds = ["volt", "ras", "isi"]
    if extra:
        kinds.append("conductance")
        if pm["neuron-model"].startswith("HH"):
            kinds.append("ion_gate")
    return kinds


def data_key(pm) -> str:
    """Data-file key: the parameter hash, mixed with the content of any input files named by path.

    So an edited net file never reads stale output.
    """
    key = params_hash.param_hash(pm)
    paths = [pm[k] for k in params.MATRIX_KEYS
             if isinstance(pm[k], str) and pm[k] not in ("-", "--")]
    if not paths:
        return key
    h = hashlib.sha256(key.encode())
    for path in paths:
        h.update(Path(path).read_bytes())
    return h.hexdigest()[:params_hash.HASH_CHARS]


def read_outputs(paths: dict, n: int) -> dict:
    """Read the simulator's output files into the arrays of docs/design.md.

    Parameters
    ----------
    paths : dict
        Kind (``volt``, ``ras``, ``isi``, ``conductance``, ``ion_gate``) -> file path.
    n : int
        Number of neurons.
    """
    out = {}
    for kind, path in paths.items():
        if kind == "ras":
            text = Path(path).read_text()
            out[kind] = (np.array(text.split(), dtype=float).reshape(-1, 2) if text.strip()
                         else np.zeros((0, 2)))
        elif kind == "isi":
            out[kind] = np.array(Path(path).read_text().split(), dtype=float)
        else:
            width = {"volt": 1, "conductance": 2, "ion_gate": 3}[kind]
            flat = np.fromfile(path, dtype="<f8")
            rows = flat.reshape(-1, n, width)           # samples x neurons x variables
            out[kind] = (rows[:, :, 0].T.copy() if kind == "volt"
                         else np.ascontiguousarray(rows.transpose(1, 2, 0)))
    return out


def simulate(pm, outputs=None) -> Result:
    """Run one simulation in-process (no files, no subprocess) and return its `Result`.

    Parameters
    ----------
    pm : Mapping
        Parameters (see `neunet.parameters`).
    outputs : sequence of str, optional
        Array keys wanted (default ``('volt', 'ras', 'isi')``; also ``'conductance'``,
        ``'ion_gate'``, ``'poisson'``).
    """
    from neunet.sim import api
    argv = params_argv.to_argv(pm)
    arrays = api.simulate(argv, tuple(outputs) if outputs else ("volt", "ras", "isi"))
    return Result.from_arrays(arrays, pm=pm)


def gen_neu(pm, mode: str = "v rm", watcher=None, data_dir=None):
    """Run the simulator on `pm` (its command line, in a warm process) and return its outputs.

    Parameters
    ----------
    pm : Mapping
        Parameters (see `neunet.parameters`); validated before anything runs.
    mode : str
        Space-separated words: ``v`` (progress), ``rm`` (default: delete the data files
        after reading), ``no-rm`` (keep them), ``read`` (read files a ``no-rm`` run left),
        ``nameX`` (return file names only; implies ``no-rm``), ``cmd`` (return the command
        line, run nothing), ``extra-data`` (also conductances and gating variables),
        ``live`` (plot the voltage while it runs).
    watcher : object, optional
        Gets ``update(volt_so_far)`` ((n, K) rows so far) a few times a second while the
        simulator runs and ``close(result)`` at the end. ``live`` uses
        ``neunet.live.LiveVoltage(pm)`` when none is given.
    data_dir : str or Path, optional
        Where data files go (default $NEUNET_DATA_DIR, else ./neunet_data).

    Returns
    -------
    Result or list or str
        A `Result` ((path, kind, data) entries with named access); with ``nameX`` a list of
        ``(path, kind, None)``; with ``cmd`` the command line as a string.
    """
    words = parse_mode(mode)
    pm_v = params.validate(pm)
    folder = params_argv.data_dir(data_dir)
    kinds = _kinds(pm_v, "extra-data" in words)
    key = data_key(pm_v)
    if "cmd" in words:
        line = shlex.join(_command(pm_v, folder, _paths(folder, key, kinds), "v" in words))
        if "v" in words:
            print(line)
        return line
    keep = "no-rm" in words or "nameX" in words
    if "read" in words:
        paths = _existing(folder, key, kinds)
        if "v" in words:
            print(f"gen_neu: reading kept files {key}.* in {folder}")
    else:
        if "live" in words and watcher is None:
            from neunet.live import LiveVoltage
            watcher = LiveVoltage(pm)
        if not keep and watcher is None:   # files nobody would see: arrays in memory
            return Result.from_arrays(_run_in_memory(pm_v, folder, key, kinds, "v" in words),
                                      pm=pm)
        paths = _run(pm_v, folder, key, kinds, "v" in words, watcher)
    try:
        if keep and "read" not in words:
            paths = _publish(folder, key, pm_v, paths)
        if "nameX" in words and watcher is None:
            return [(paths[k], KIND_OF_KEY[k], None) for k in kinds]
        result = Result.from_arrays(read_outputs(paths, pm_v["nE"] + pm_v["nI"]), pm=pm,
                                    paths=paths if keep else None)
    finally:
        if not keep:
            _remove(folder, key if "read" in words else None, paths)
    if watcher is not None:
        watcher.close(result)
    if "nameX" in words:
        return [(paths[k], KIND_OF_KEY[k], None) for k in kinds]
    return result


def _paths(folder: Path, stem: str, kinds) -> dict:
    return {k: str(folder / f"{stem}{FILES[k][0]}") for k in kinds}


def _command(pm_v, folder, paths, verbose) -> list:
    command = params_argv.sim_command(pm_v, folder)
    for kind, path in paths.items():
        command += [FILES[kind][1], path]
    return command + (["-v"] if verbose else [])


def _existing(folder: Path, key: str, kinds) -> dict:
    manifest = folder / f"{key}{MANIFEST_SUFFIX}"
    if not manifest.exists():
        raise FileNotFoundError(
            f"gen_neu 'read': no data files for these parameters in {folder} (key {key}); "
            f"run gen_neu(pm, 'no-rm') first")
    have = json.loads(manifest.read_text())["kinds"]
    missing = [k for k in kinds if k not in have]
    if missing:
        raise FileNotFoundError(
            f"gen_neu 'read': the kept files for key {key} lack {', '.join(missing)} "
            f"data; run gen_neu(pm, 'no-rm extra-data') first")
    paths = _paths(folder, key, kinds)
    for path in paths.values():
        if not os.path.exists(path):
            raise FileNotFoundError(f"gen_neu 'read': data file {path} is missing")
    return paths


def _remove(folder: Path, key, paths: dict):
    """Delete data files (and, when `key` is given, the manifest of kept files)."""
    if key is not None:
        manifest = folder / f"{key}{MANIFEST_SUFFIX}"
        if manifest.exists():
            manifest.unlink()
    for path in paths.values():
        if os.path.exists(path):
            os.unlink(path)


def _run(pm_v, folder: Path, key: str, kinds, verbose: bool, watcher) -> dict:
    """Run the simulator writing to temporary names; return them (removed on failure)."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = f".{key}.{os.getpid()}.{threading.get_ident()}.tmp"
    tmp = _paths(folder, stem, kinds)
    start_s = time.perf_counter()
    try:
        _execute(_command(pm_v, folder, tmp, verbose), tmp["volt"], pm_v, verbose, watcher)
    except BaseException:
        _remove(folder, None, tmp)
        raise
    if verbose:
        _summary_line(pm_v, key, start_s)
    return tmp


def _run_in_memory(pm_v, folder: Path, key: str, kinds, verbose: bool) -> dict:
    """Run the simulator's command line with its outputs kept in memory (mode ``rm``
    without a watcher: the files would be deleted unseen); return the arrays."""
    start_s = time.perf_counter()
    command = _command(pm_v, folder, {}, verbose)
    call = _execute(command, None, pm_v, verbose, None, arrays=kinds)
    arrays = _unpack(call.blob, call.layout)
    if verbose:
        _summary_line(pm_v, key, start_s)
    return arrays


def _unpack(blob: bytearray, layout: dict) -> dict:
    """The arrays of a warm call (`neunet.sim.warm.run.pack_arrays`), sharing `blob`."""
    out = {}
    for kind, (offset, shape) in layout.items():
        count = int(np.prod(shape))
        out[kind] = np.frombuffer(blob, "<f8", count, offset).reshape(shape)
    return out


def _summary_line(pm_v, key: str, start_s: float) -> None:
    print(f"gen_neu: simulated {pm_v['neuron-model']} n={pm_v['nE'] + pm_v['nI']} "
          f"t={pm_v['t']:g} ms in {time.perf_counter() - start_s:.2f} s (key {key})")


def _publish(folder: Path, key: str, pm_v, tmp: dict) -> dict:
    """Move a finished run's files to their keyed names, then write the manifest."""
    old = folder / f"{key}{MANIFEST_SUFFIX}"
    if old.exists():
        old.unlink()
    final = _paths(folder, key, list(tmp))
    for kind, path in tmp.items():
        os.replace(path, final[kind])
    _write_manifest(folder, key, pm_v, list(tmp))
    return final


def _write_manifest(folder: Path, key: str, pm_v, kinds):
    body = {"key": key, "kinds": list(kinds), "created": time.time(),
            "canonical": params_hash.canonical(pm_v)}
    atomic_write(folder / f"{key}{MANIFEST_SUFFIX}", json.dumps(body, indent=1, sort_keys=True))


def _child_env() -> dict:
    """Environment for the simulator: the same neunet package as this process, even when
    it is not installed (its parent folder first on PYTHONPATH)."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])
    return env


def _execute(command, volt_path, pm_v, verbose, watcher, arrays=None):
    """Run the command in this session's warm simulator process; poll the volt file for
    `watcher`; raise SimulatorError on failure (ctrl-c interrupts the run, then re-raises).
    With `arrays` (output kinds) the outputs stay in memory; returns the finished call."""
    from neunet.sim.warm import session as warm
    with warm.borrowed(_child_env()) as sim:
        call = sim.call(command[3:], sys.stdout if verbose else None,
                        sys.stderr if verbose else None, arrays)
        reader = VoltReader(volt_path, pm_v["nE"] + pm_v["nI"]) if watcher is not None else None
        try:
            while call.wait(POLL_INTERVAL_S if reader is not None else None) is None:
                if reader.poll():
                    watcher.update(reader.volt())
        except BaseException:
            call.interrupt()
            raise
    if call.returncode != 0:
        raise _failure(call, command)
    if reader is not None and reader.poll():
        watcher.update(reader.volt())
    return call


def _failure(call, command) -> SimulatorError:
    """The error of a failed call: the simulator's one-line message (its last stderr line);
    for a process that died, how, and the first line it wrote (a crash's cause)."""
    stderr = call.stderr.strip()
    lines = stderr.splitlines()
    if call.returncode < 0:
        text = _status_text(call.returncode) + (f": {lines[0]}" if lines else "")
    else:
        text = lines[-1] if lines else _status_text(call.returncode)
    return SimulatorError(f"simulator failed (exit {call.returncode}): {text}",
                          call.returncode, stderr, command)


def _status_text(code: int) -> str:
    """What a status without a message means ("killed by SIGKILL", "exit code 3")."""
    if code < 0:
        import signal
        try:
            return f"the simulator process was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"the simulator process was killed by signal {-code}"
    return f"exit code {code}"
