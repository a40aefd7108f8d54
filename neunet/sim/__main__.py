"""The gen_neu-compatible command line: ``python -m neunet.sim`` / ``neunet-sim``.

Exit codes: 0 success; 2 bad input or a simulation error (one line ``neunet-sim: error:
...`` on stderr); 1 unexpected internal error (one line, no traceback); 130 interrupted.
numba and the engine are imported only after the options are valid, so ``--help`` and
input errors are fast. Run as a program (``neunet-sim``, ``python -m neunet.sim``) a call
goes to the warm simulator server when one serves this user (`neunet.sim.warm.client`);
`main` itself always runs here.
"""
from __future__ import annotations

import gc
import sys
import time

from neunet.sim.startup import (
    hide_optional_modules,
    single_thread_libraries,
    skip_numba_extensions,
    unhide,
)

# Program name in messages.
PROG = "neunet-sim"
# [whether a main call has started in this process, whether the collector is paused now].
_GC_PAUSE = [False, False]


def _fail(message: str, code: int) -> int:
    text = " ".join(str(message).split()) or "(no message)"
    print(f"{PROG}: error: {text}", file=sys.stderr, flush=True)
    return code


class FileOutputs:
    """Where a run's outputs go: the files its options name (the command line's own)."""

    @staticmethod
    def kinds(opts) -> tuple:
        """Output kinds to record (they decide which state the engine records)."""
        from neunet.sim import api
        return tuple(api.output_paths(opts))

    @staticmethod
    def sink(opts, progress):
        """The sink, made once every input has been read (bad input leaves no files)."""
        from neunet.sim import api, io
        return io.FileSink(api.output_paths(opts), opts.t_ms, progress)


def _run(opts, outputs=FileOutputs) -> None:
    from neunet.sim import api, echo, engine, io
    skip_numba_extensions()

    kinds = outputs.kinds(opts)
    sinks = []   # the sink exists only once all inputs have been read
    on_events = (lambda *a: sinks[0].events(*a)) if "poisson" in kinds else None
    problem, events = api.prepare(opts, kinds, on_events)
    if opts.verbose_echo:
        print(echo.header(opts, problem, getattr(events, "count", None)), end="",
              flush=True)
        if opts.verbose:
            print(flush=True)
    progress = (io.Progress(opts.n_steps * opts.dt_ms, sys.stderr) if opts.verbose
                else None)
    sinks.append(outputs.sink(opts, progress))
    engine.load_kernels(problem.method)
    _collect_only_new_objects()
    try:
        t0, cpu0 = time.perf_counter(), time.process_time()
        stats = engine.run(problem, events, sinks[0])
        run_s, cpu_s = time.perf_counter() - t0, time.process_time() - cpu0
    finally:
        sinks[0].close()
    if opts.verbose_echo:
        if opts.verbose:
            print()
        print(echo.footer(sinks[0].spike_counts, stats.quiet_steps), end="", flush=True)
    if opts.timing:
        print(f"timing: run {run_s:.6f} s, cpu {cpu_s:.6f} s (engine.run: cached kernel loads, "
              "event generation, kernels, output)",
              file=sys.stderr, flush=True)


def _pause_gc() -> None:
    """At a process's first call: pause the cyclic garbage collector for the start-up, whose
    imports of numpy and numba would trigger ~120 collections over their ever larger heap
    (30-90 ms of every command line run). Later calls (a warm worker's) import nothing."""
    if not _GC_PAUSE[0] and gc.isenabled():
        gc.disable()
        _GC_PAUSE[1] = True
    _GC_PAUSE[0] = True


def _collect_only_new_objects() -> None:
    """Resume a paused collector, exempting everything made so far (gc.freeze): a long
    run's collections look only at the objects it makes."""
    if _GC_PAUSE[1]:
        gc.freeze()
        gc.enable()
        _GC_PAUSE[1] = False


def main(argv=None, outputs=FileOutputs) -> int:
    """Run the command line; returns the process exit code.

    Parameters
    ----------
    argv : list of str, optional
        Arguments (default ``sys.argv[1:]``).
    outputs : object, optional
        Where the outputs go: ``kinds(opts)`` and ``sink(opts, progress)`` as in
        `FileOutputs` (the default: the files the options name). A warm session keeps a
        gen_neu call's arrays in memory with `neunet.sim.warm.run.ArrayOutputs`.
    """
    argv = sys.argv[1:] if argv is None else argv
    single_thread_libraries()
    hidden = hide_optional_modules()
    _pause_gc()
    try:
        return _main(argv, outputs)
    finally:
        unhide(hidden)
        if _GC_PAUSE[1]:           # an error before the run
            gc.enable()
            _GC_PAUSE[1] = False


def _main(argv, outputs) -> int:
    from neunet.sim.options import SimInputError, parse_argv
    try:
        opts = parse_argv(argv)
        _run(opts, outputs)
    except SimInputError as e:
        return _fail(e, 2)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except Exception as e:
        from neunet.sim.errors import SimulationError
        if isinstance(e, SimulationError):
            return _fail(f"simulation failed: {e}", 2)
        return _fail(f"internal error: {type(e).__name__}: {e}", 1)
    return 0


if __name__ == "__main__":
    from neunet.sim.warm.client import main as front
    sys.exit(front(local=main))
