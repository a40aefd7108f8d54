"""The simulation engine: Problem and run(problem, events, sink) in chunks of steps.

The contract with options/io/api (docs/design.md) is the block below: ``Problem``,
``EventSource``, ``Sink``, ``MODELS``, ``n_state_vars``, ``default_state``,
``supported_methods``, ``run``, ``RunStats`` and ``SimulationError``. ``run`` plans the
chunks (step end times, sample rows, forced resets) and hands each to the runner of the
model family (``engine_network.NetworkRunner``, ``engine_special``), which takes the
chunk's input events and runs the numba kernels; then ``sink.samples/spikes/progress``, and
``sink.finish`` at the end.
"""
from __future__ import annotations

import importlib
import time
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from neunet.sim import engine_inputs
from neunet.sim.errors import SimulationError, SimUnstableError, unstable_point
from neunet.sim.models import METHODS, MODELS, finite_rows, n_state_vars, row_names
from neunet.sim.models import Model as ModelInfo

__all__ = ["MODELS", "EventSource", "Problem", "RunStats", "SimUnstableError",
           "SimulationError", "Sink", "default_state", "load_kernels", "n_state_vars", "run",
           "supported_methods"]


@dataclass
class Problem:
    """Everything the engine needs for one run (options.py has validated and resolved it)."""
    model: str            # exact gen_neu model name, e.g. "HH-GH-sine", "LIF-G", "DIF-single-GH"
    method: str           # one of models.METHODS (options.py has resolved "auto")
    nE: int
    nI: int
    post_ptr: np.ndarray  # int64 (n+1,): CSR by PREsynaptic neuron j (0-based) ...
    post_idx: np.ndarray  # int64: ... its postsynaptic neurons i (diagonal already dropped)
    post_w: np.ndarray    # float64: weight A[i][j] of each edge
    scee: float
    scie: float
    scei: float
    scii: float
    dt: float             # ms
    t_warmup: float       # ms, already aligned to floor(tw/dt)*dt
    n_steps: int          # floor((T + t_w)/dt) computed in floating point
    steps_per_sample: int  # m = int(stv/dt + 0.1)
    T: float              # --t in ms (the ISI file divides by it)
    delay: float = 0.0            # big-delay constant delay (ms), > dt
    delays: np.ndarray | None = None  # per-edge delays (ms, post_idx order): big-net-delay,
    #                                   IF-jump-delay (a constant delay repeated)
    constants: np.ndarray | None = None  # heterogeneous: (n, k) constants in the order of
    #                                      models.HETEROGENEOUS[model]
    force_ids: np.ndarray | None = None    # --force-spike-list: neurons (0-based) ...
    force_times: np.ndarray | None = None  # ... and times (ms), file order
    mt: np.ndarray | None = None  # Hawkes-GH: MT19937 state its thresholds are drawn from
    threshold: float | None = None    # --set-threshold (None: model default); inf: no threshold
    refractory: float | None = None   # --refractory-time (None: model default)
    sine_amp: float = 0.0         # -sine models: amplitude
    sine_freq: float = 0.0        # -sine models: frequency (kHz)
    ext_current: float = 0.0                        # -extI models
    initial_state: np.ndarray | None = None         # (n, n_var) in the model's state order
    quirks: bool = False          # --reference-quirks
    first_row: bool = False       # --output-first-data-point
    record_conductance: bool = False
    record_ion_gate: bool = False


class EventSource(Protocol):
    """Input events, handed out chunk by chunk."""
    n: int

    def take(self, t_ends: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All not yet consumed input events with time < t_ends[-1], removed from the source, as
        CSR by neuron: ptr int64 (n+1,), times float64, strengths float64 (each neuron's events
        in time order; strength >= 0 excitatory, < 0 inhibitory of magnitude |s|). t_ends are the
        end times of the chunk's steps, which the engine computes by repeated addition
        t <- t + dt from 0 exactly as the reference does. (A Poisson source uses t_ends to draw in
        the reference's order and to write the --output-poisson-path file.)"""


class Sink(Protocol):
    """Receiver of the outputs."""

    def samples(self, volt, cond, gate) -> None:
        """Rows of output: volt (rows, n); cond (rows, 2n) gE_1, gI_1, gE_2, ... or None;
        gate (rows, 3n) h_1, m_1, n_1, h_2, ... or None (None also for non-HH models)."""

    def spikes(self, ids, times) -> None:
        """Raster lines in output order: ids int64 0-based, times float64 (ms minus t_w)."""

    def progress(self, t_ms: float) -> None:
        """Simulated time reached (ms, warm-up included)."""

    def finish(self, spike_counts) -> None:
        """int64 (n,) spike counts after warm-up (for the ISI file)."""


# Default HH state V, h, m, n (resting point).
HH_REST = engine_inputs.HH_REST


@dataclass
class RunStats:
    """What a run reports besides its outputs."""
    quiet_steps: int      # single-neuron quiet steps (the reference's NoInteractDt count)


# Methods with kernel modules of their own (the others run kernels_methods.run_chunk).
KERNEL_MODULES = {"IF-jump": "kernels_ifjump", "IF-jump-delay": "kernels_ifjump",
                  "cont-syn": "kernels_contsyn"}
# Method name -> kernel method id (kernels_methods.M_*).
METHOD_IDS = {name: i for i, name in enumerate(METHODS)}
# Wall time one chunk of steps should take (s): progress updates several times a second.
CHUNK_TARGET_S = 0.2
# Bounds on the number of steps per chunk.
CHUNK_MIN_STEPS, CHUNK_MAX_STEPS = 1, 1 << 18
# Runs of at most this many neuron-steps (a few ms) take a single chunk (a sweep of tiny
# tasks pays the per-chunk overhead once per task).
ONE_CHUNK_NEURON_STEPS = 1 << 15
# Steps of the first chunk of a longer run, which measures the speed for the next ones.
FIRST_CHUNK_STEPS = 16
# Most neuron-steps per chunk: bounds the chunk's event and row buffers (memory), whatever
# the machine's speed (a fast idle machine would otherwise grow chunks to CHUNK_MAX_STEPS).
CHUNK_MAX_NEURON_STEPS = 1 << 21


def default_state(model: str, n: int) -> np.ndarray:
    """Default initial state, shape (n, n_state_vars(model)), in the model's state order."""
    return engine_inputs.default_state(MODELS[model], n)


def supported_methods(model: str) -> tuple[str, ...]:
    """Simulation methods the engine supports for this model."""
    return MODELS[model].methods


def _check(problem: Problem) -> ModelInfo:
    """Refuse what the kernels cannot run (options.py normally caught it already)."""
    if problem.model not in MODELS:
        raise ValueError(f"unsupported neuron model {problem.model!r}")
    info = MODELS[problem.model]
    if problem.method not in info.methods:
        raise ValueError(f"model {problem.model} does not support method {problem.method!r}")
    if problem.method == "big-delay" and not problem.delay > problem.dt:
        raise SimulationError("Delay too small for this simulator")
    return info


def _chunk_plan(t_ms, first_step, k, problem, post_count):
    """End times (repeated addition) and sample row of each of the next k steps.

    Returns (t_ends, rows, i_after, post_count, n_rows): chunk steps i >= i_after end after
    the warm-up; rows[i] >= 0 marks a sample row (every steps_per_sample-th step after the
    warm-up, counting on from post_count).
    """
    inc = np.full(k, problem.dt)
    inc[0] = t_ms + problem.dt
    t_ends = np.cumsum(inc)          # sequential sums: bit-identical to t <- t + dt
    i_after = _first_after_warmup(first_step, k, problem.dt, problem.t_warmup)
    m = problem.steps_per_sample
    first_row = i_after - 1 + (m - post_count % m)
    rows = np.full(k, -1, np.int64)
    where = np.arange(first_row, k, m)
    rows[where] = np.arange(where.size)
    return t_ends, rows, i_after, post_count + k - i_after, int(where.size)


def _first_after_warmup(first_step, k, dt, t_warmup):
    """Smallest i < k with (first_step + 1 + i) * dt > t_warmup, else k (bisection: the
    product is monotonic in i, and is evaluated exactly as a float64 product)."""
    lo, hi = 0, k
    while lo < hi:
        mid = (lo + hi) // 2
        if float(first_step + 1 + mid) * dt > t_warmup:
            hi = mid
        else:
            lo = mid + 1
    return lo


def run(problem: Problem, events: EventSource, sink: Sink) -> RunStats:
    """Simulate `problem` with input from `events`, streaming outputs to `sink`.

    Parameters
    ----------
    problem : Problem
        The validated run description.
    events : EventSource
        Input events; ``take`` is called once per chunk of steps.
    sink : Sink
        Receives sample rows, raster lines and progress per chunk, then ``finish``.

    Returns
    -------
    RunStats

    Raises
    ------
    SimulationError
        On runtime failures such as "Multiple spikes in one dt".
    SimUnstableError
        When the state becomes non-finite; the sink has then received the sample rows
        before the first non-finite one and the spikes of the steps before it.
    """
    info = _check(problem)
    load_kernels(problem.method)
    runner = _make_runner(problem, _as_arrays(problem, info), events)
    if problem.first_row:
        runner.first_row(sink)
    n = problem.nE + problem.nI
    force = engine_inputs.ForceList(problem.force_ids, problem.force_times, problem.quirks)
    counts = np.zeros(n, np.int64)
    t_ms, step, post_count, chunk = 0.0, 0, 0, _first_chunk(problem)
    max_steps = max(CHUNK_MIN_STEPS, min(CHUNK_MAX_STEPS, CHUNK_MAX_NEURON_STEPS // n))
    while step < problem.n_steps:
        k = min(chunk, problem.n_steps - step)
        t_ends, rows, i_after, post_count, n_rows = _chunk_plan(t_ms, step, k, problem,
                                                                post_count)
        forced = force.in_chunk(step, t_ms, t_ends)
        t0 = time.perf_counter()
        out_k, out_i, out_t, volt, cond, gate = runner.chunk(t_ms, t_ends, rows, n_rows,
                                                             forced)
        elapsed = time.perf_counter() - t0
        stop = unstable_point(runner.S, finite_rows(problem.model), volt, rows, t_ends,
                              row_names(problem.model))  # keep rows, steps
        n_ok, k_ok = (n_rows, k) if stop is None else stop[:2]
        keep = (out_k >= i_after) & (out_k < k_ok)
        ids = out_i[keep]
        np.add.at(counts, ids, 1)
        runner.emit_rows(sink, volt[:n_ok], cond[:n_ok], gate[:n_ok])
        if ids.size:
            sink.spikes(ids, out_t[keep] - problem.t_warmup)
        if stop is not None:
            raise stop[2]
        t_ms, step = t_ends[-1], step + k
        sink.progress(float(t_ms))
        chunk = _next_chunk(chunk, k, elapsed, max_steps)
    sink.finish(counts)
    return RunStats(quiet_steps=runner.quiet_steps())


def load_kernels(method: str | None = None) -> None:
    """Import the kernels of `method` (their numba dispatchers; a stale cache dropped first).

    `run` does it; a process may do it earlier (the command line does, before its --timing
    clock starts). Compiled code loads from the cache at a kernel's first call. Without a
    method, the network methods' kernels (kernels_methods); methods with kernels of their
    own import only those (each kernel module imported costs start-up time).
    """
    from neunet.sim.kernels_cache import prepare_kernel_loads
    prepare_kernel_loads()
    importlib.import_module(f"neunet.sim.{KERNEL_MODULES.get(method, 'kernels_methods')}")


def _make_runner(problem: Problem, info: ModelInfo, events: EventSource):
    """The runner of the problem's model family, with the initial state in place."""
    from neunet.sim import engine_network, engine_special
    n = problem.nE + problem.nI
    S = engine_inputs.internal_state(problem, info, n)
    if problem.method in ("IF-jump", "IF-jump-delay"):
        return engine_special.IFJumpRunner(problem, info, S, events)
    if problem.method == "cont-syn":
        return engine_special.ContSynRunner(problem, info, S, events)
    if problem.model == "Hawkes-GH":
        return engine_special.HawkesRunner(problem, info, S, events)
    return engine_network.NetworkRunner(problem, info, S, events)


def _first_chunk(problem: Problem) -> int:
    """Steps of the first chunk: a short run in one go, else a short probe of the speed."""
    n = problem.nE + problem.nI
    if problem.n_steps * n <= ONE_CHUNK_NEURON_STEPS:
        return max(CHUNK_MIN_STEPS, problem.n_steps)
    return FIRST_CHUNK_STEPS


def _next_chunk(chunk: int, k: int, elapsed_s: float, max_steps: int = CHUNK_MAX_STEPS) -> int:
    """Steps for the next chunk so that it takes about CHUNK_TARGET_S (at most max_steps)."""
    if k < chunk:
        return chunk
    want = int(CHUNK_TARGET_S * k / max(elapsed_s, 1e-6))
    return max(CHUNK_MIN_STEPS, min(max_steps, 4 * chunk, want))


def _as_arrays(problem: Problem, info: ModelInfo) -> ModelInfo:
    """Make the network arrays contiguous with the kernels' dtypes (in place on problem)."""
    problem.post_ptr = np.ascontiguousarray(problem.post_ptr, np.int64)
    problem.post_idx = np.ascontiguousarray(problem.post_idx, np.int64)
    problem.post_w = np.ascontiguousarray(problem.post_w, np.float64)
    return info
