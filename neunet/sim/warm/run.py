"""One command-line call inside a warm process (caller's stdio, folder, environment), and warm-up.

`run_request` puts the caller's stdin, stdout and stderr (file descriptors received with the
request) on 0, 1 and 2, enters its working folder, takes its environment and umask, runs
`neunet.sim.__main__.main` on its argv and returns the exit code, so the call writes the same
files, exit codes and stderr as ``neunet-sim`` run by the caller itself. With
``restore=True`` (a private session process that serves call after call) everything is put
back afterwards; a forked child of the per-user server exits instead. A session's call may
ask for its outputs as arrays (``arrays``: gen_neu's ``rm`` calls, whose files nobody would
see): they come back in memory (`ArrayOutputs`, `pack_arrays`) instead of through files.
`warm_up` loads the engine and its kernels before a warm process serves.
"""
from __future__ import annotations

import os
import sys
import time

from neunet.sim.warm import wire

# Neuron counts (nE, nI) of the warm-up runs: a lone neuron (its own kernels) and a network.
_WARM_SIZES = (("1", "0"), ("2", "1"))
# Output kinds a call may ask for as arrays (the gen_neu kinds; ion gates of HH models only).
ARRAY_KINDS = ("volt", "ras", "isi", "conductance", "ion_gate")


class BadRequest(ValueError):
    """A run request without a list of string arguments, a folder, an environment or stdio."""


def check_request(msg: dict, fds: list) -> None:
    """Raise BadRequest unless `msg` is a well-formed run request with three descriptors."""
    argv, env = msg.get("argv"), msg.get("env")
    if not (isinstance(argv, list) and all(isinstance(a, str) for a in argv)):
        raise BadRequest("argv must be a list of strings")
    if not isinstance(msg.get("cwd"), str):
        raise BadRequest("cwd must be a string")
    if not (isinstance(env, dict) and all(isinstance(k, str) and isinstance(v, str)
                                          for k, v in env.items())):
        raise BadRequest("env must map strings to strings")
    if not isinstance(msg.get("umask", 0o22), int):
        raise BadRequest("umask must be an integer")
    arrays = msg.get("arrays")
    if arrays is not None and not (isinstance(arrays, list) and arrays
                                   and all(k in ARRAY_KINDS for k in arrays)):
        raise BadRequest(f"arrays must be a list of {', '.join(ARRAY_KINDS)}")
    if len(fds) != wire.STDIO_FDS:
        raise BadRequest(f"a run request carries {wire.STDIO_FDS} file descriptors, "
                         f"got {len(fds)}")


def _text_streams():
    """New sys.stdout / sys.stderr over descriptors 1 and 2, buffered as Python would."""
    encoding = os.environ.get("PYTHONIOENCODING", "").split(":")[0] or "utf-8"
    out = open(1, "w", encoding=encoding, closefd=False,
               buffering=1 if os.isatty(1) else -1)
    err = open(2, "w", encoding=encoding, errors="backslashreplace", closefd=False,
               buffering=1)
    return out, err


def _enter(msg: dict, fds: list, restore: bool) -> dict | None:
    """Take on the caller's stdio, environment and umask; return what to put back."""
    saved = None
    if restore:
        saved = {"fds": [os.dup(fd) for fd in range(wire.STDIO_FDS)],
                 "streams": (sys.stdin, sys.stdout, sys.stderr), "env": dict(os.environ),
                 "cwd": os.getcwd()}
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    wire.close_fds(fds)
    os.environ.clear()
    os.environ.update(msg["env"])
    umask = os.umask(msg.get("umask", 0o22))
    if saved is not None:
        saved["umask"] = umask
    sys.stdout, sys.stderr = _text_streams()
    return saved


def _leave(saved: dict) -> None:
    """Flush the call's output and put back what `_enter` saved."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    if saved is None:
        return
    for target, fd in enumerate(saved["fds"]):
        os.dup2(fd, target)
        os.close(fd)
    sys.stdin, sys.stdout, sys.stderr = saved["streams"]
    os.environ.clear()
    os.environ.update(saved["env"])
    os.umask(saved["umask"])
    os.chdir(saved["cwd"])


def run_request(msg: dict, fds: list, restore: bool, outputs=None) -> int:
    """Run one checked ``run`` request (see `check_request`); return its exit code.

    Parameters
    ----------
    msg : dict
        ``argv`` (list of str), ``cwd``, ``env`` (dict), ``umask`` (int, optional).
    fds : list of int
        The caller's stdin, stdout and stderr; closed here.
    restore : bool
        Put this process's stdio, folder, environment and umask back afterwards.
    outputs : ArrayOutputs, optional
        Keep the outputs in memory (default: the files the arguments name).
    """
    from neunet.sim.__main__ import PROG, FileOutputs, main
    saved = _enter(msg, fds, restore)
    try:
        try:
            os.chdir(msg["cwd"])
        except OSError as exc:
            print(f"{PROG}: error: cannot enter the working folder {msg['cwd']}: "
                  f"{exc.strerror}", file=sys.stderr)
            return 2
        try:
            return main(msg["argv"], outputs or FileOutputs)
        except KeyboardInterrupt:          # between main's own handler and here
            print(f"{PROG}: error: interrupted", file=sys.stderr)
            return 130
    finally:
        _leave(saved)


class ArrayOutputs:
    """Outputs kept as arrays (see `neunet.sim.__main__.FileOutputs`), with the progress
    display of ``-v`` like the files' sink.

    Parameters
    ----------
    wanted : sequence of str
        Kinds from ARRAY_KINDS (ion_gate is dropped for models without gates).
    """

    def __init__(self, wanted):
        self.wanted, self.made = tuple(wanted), None

    def kinds(self, opts) -> tuple:
        return tuple(k for k in self.wanted if k != "ion_gate" or opts.is_hh)

    def sink(self, opts, progress):
        from neunet.sim import io

        class _Sink(io.ArraySink):
            def progress(self, t_ms):
                if progress is not None:
                    progress.update(t_ms)

            def finish(self, spike_counts):
                super().finish(spike_counts)
                if progress is not None:
                    progress.close()

            def close(self):
                """Nothing to close in memory."""

        self.made = _Sink(opts.n, opts.t_ms, self.kinds(opts))
        return self.made


def pack_arrays(arrays: dict):
    """Write float64 arrays one after another into an anonymous file.

    Returns
    -------
    (int, dict)
        The file descriptor (the caller sends and closes it) and kind -> ``[offset, shape]``.
    """
    import numpy as np
    fd = _anonymous_file()
    layout, offset = {}, 0
    with open(fd, "wb", closefd=False) as f:
        for kind, arr in arrays.items():
            data = np.ascontiguousarray(arr, dtype="<f8")
            f.write(data.data)
            layout[kind] = [offset, list(data.shape)]
            offset += data.nbytes
    return fd, layout


def _anonymous_file() -> int:
    if hasattr(os, "memfd_create"):
        return os.memfd_create("neunet-arrays", os.MFD_CLOEXEC)
    import tempfile
    with tempfile.TemporaryFile() as f:
        return os.dup(f.fileno())


def _net_delays(n: int) -> str:
    """A file of n x n synaptic delays (ms) for big-net-delay's warm-up runs."""
    import tempfile
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write(("0.0625 " * n + "\n") * n)
    return f.name


def _warm_argv(model: str, method: str, n_e: str, n_i: str) -> list:
    """A tiny run of `model` with `method` that goes through every part of the engine."""
    argv = ["--neuron-model", model, "--simulation-method", method, "--net", "-",
            "--nE", n_e, "--nI", n_i, "--t", "0.5", "--stv", "0.0625", "--pr", "2",
            "--ps", "0.01", "--pri", "1", "--psi", "0.01", "--scee", "0.01", "--scie", "0.01",
            "--scei", "0.01", "--scii", "0.01", "--seed", "1", "--output-first-data-point"]
    if method in ("big-delay", "IF-jump-delay"):
        argv += ["--synaptic-delay", "0.0625"]
    if method == "big-net-delay":
        argv += ["--synaptic-net-delay", _net_delays(int(n_e) + int(n_i))]
    if model.endswith("-extI"):
        argv += ["--extI", "1"]
    if model.endswith("-sine"):
        argv += ["--current-sine-amp", "1", "--current-sine-freq", "0.1"]
    return argv


def warm_up(every_model: bool) -> float:
    """Load the engine and its compiled kernels; return the seconds it took.

    Parameters
    ----------
    every_model : bool
        Run every model with every method it allows (the per-user server: its forked
        children would otherwise load kernels again at every call); else one HH run (a
        session process keeps what later calls load).
    """
    from neunet.sim import api, models
    from neunet.sim.startup import hide_optional_modules, single_thread_libraries
    single_thread_libraries()
    hide_optional_modules()                       # for good: this process only simulates
    t0 = time.perf_counter()
    plan = [(m, info.methods) for m, info in models.MODELS.items()]
    if not every_model:
        plan = [("HH-GH", ("simple",))]
    for model, methods in plan:
        for method in methods:
            for n_e, n_i in _WARM_SIZES if every_model else _WARM_SIZES[:1]:
                argv = _warm_argv(model, method, n_e, n_i)
                try:
                    api.simulate(argv, api.OUTPUT_KEYS)
                except Exception as exc:  # warming is an optimisation: a call reports errors
                    print(f"warm-up of {model} {method} skipped: {exc}", file=sys.stderr)
                finally:
                    if "--synaptic-net-delay" in argv:
                        os.unlink(argv[argv.index("--synaptic-net-delay") + 1])
    return time.perf_counter() - t0
