"""The simulation engine: Problem, model tables and run(problem, events, sink) in chunks of steps.

The contract with options/io/api (docs/design.md) is the block below: ``Problem``,
``EventSource``, ``Sink``, ``MODELS``, ``n_state_vars``, ``default_state``,
``supported_methods``, ``run`` and ``SimulationError``. ``run`` advances the network chunk by
chunk through the numba kernels (``kernels_*.py``): one ``events.take`` per chunk, then the
kernel, then ``sink.samples/spikes/progress``; ``sink.finish`` at the end.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from neunet.sim.models import METHODS, MODELS, n_state_vars  # noqa: F401  (engine's API)
from neunet.sim.models import Model as ModelInfo


@dataclass
class Problem:
    """Everything the engine needs for one run (options.py has validated and resolved it)."""
    model: str            # exact gen_neu model name, e.g. "HH-GH-sine", "LIF-G", "DIF-single-GH"
    method: str           # "simple" | "SSC" | "big-delay"  (options.py has resolved "auto")
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
    threshold: float | None = None    # --set-threshold (None: model default); inf: --no-threshold
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


class SimulationError(Exception):
    """Runtime failure of a simulation, e.g. "Multiple spikes in one dt"."""


# Default HH state V, h, m, n (resting point).
HH_REST = (2.7756626542950876e-04, 5.9611104634682788e-01, 5.2934217620863984e-02,
           3.1768116757978115e-01)


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
# Initial length of each neuron's big-delay event queue (grown as needed).
DELAY_QUEUE_START = 16


def default_state(model: str, n: int) -> np.ndarray:
    """Default initial state, shape (n, n_state_vars(model)), in the model's state order."""
    info = MODELS[model]
    state = np.zeros((n, len(info.rows)))
    if info.kid >= 3:
        state[:, :4] = HH_REST
    return state


def supported_methods(model: str) -> tuple[str, ...]:
    """Simulation methods the engine supports for this model."""
    return MODELS[model].methods


def _internal_state(problem: Problem, info: ModelInfo, n: int) -> np.ndarray:
    """State as the kernels hold it: (8, n), rows V, h, m, n, gE, gI, HE, HI."""
    given = problem.initial_state
    state = default_state(problem.model, n) if given is None else np.asarray(given, float)
    if state.shape != (n, len(info.rows)):
        raise ValueError(f"initial state has shape {state.shape}, expected {(n, len(info.rows))}")
    S = np.zeros((8, n))
    for col, row in enumerate(info.rows):
        S[row] = state[:, col]
    return S


def _params(problem: Problem, info: ModelInfo, n: int) -> tuple[np.ndarray, int]:
    """Float parameter vector of the kernels (kernels_neuron.P_*) and the current kind."""
    thr = info.threshold if problem.threshold is None else problem.threshold
    tref = info.refractory if problem.refractory is None else problem.refractory
    par = np.array([thr, tref, problem.sine_amp, problem.sine_freq, problem.ext_current, n],
                   dtype=np.float64)
    cur = info.current
    if cur == 1 and info.kid == 5 and problem.quirks:
        cur = 0                      # QUIRK: HH-PT-GH-sine ignores the sine current
    return par, cur


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


class _State:
    """Mutable per-run arrays handed to the kernel chunk after chunk (the kernels allocate
    nothing: every buffer is made here)."""

    def __init__(self, problem: Problem, info: ModelInfo):
        n = problem.nE + problem.nI
        self.n = n
        self.S = _internal_state(problem, info, n)
        self.rc = np.zeros(n)
        self.flag = np.zeros(n, np.int8)
        self.par, self.cur = _params(problem, info, n)
        self.net = (int(problem.nE), problem.post_ptr, problem.post_idx, problem.post_w,
                    np.array([problem.scee, problem.scie, problem.scei, problem.scii], float))
        cap = DELAY_QUEUE_START if problem.method == "big-delay" else 1
        self.q = (np.zeros((n, cap)), np.zeros((n, cap)), np.zeros((n, cap), np.int64),
                  np.zeros(n, np.int64), np.zeros(n, np.int64))
        indeg = np.bincount(problem.post_idx, minlength=n) if problem.post_idx.size else [0]
        self.max_indeg = int(np.max(indeg))
        self.rec_c = problem.record_conductance
        self.rec_g = problem.record_ion_gate and info.kid >= 3
        self.counts = np.zeros(n, np.int64)
        m = n if problem.method == "SSC" else 0
        self.bk = (np.empty((8, m)), np.empty(m), np.empty(m, np.int8), np.empty(m, np.int64),
                   np.empty(m), np.zeros(m, np.int64))
        self.scr = (np.empty((8, n)), np.empty(n), np.zeros((3, n)), np.zeros(n, np.int8),
                    np.empty(n, np.int64), np.empty((3, n)))
        self.bufs = _spike_buffers(0)
        self.out = _raster_arrays(0)

    def work(self, n_events):
        """Kernel scratch for a chunk with n_events input events (spike buffers grown)."""
        need = 4 * self.n + n_events + 16
        if self.bufs[0].size < need:
            self.bufs = _spike_buffers(need)
        if self.out[0].size < 2 * need:
            self.out = _raster_arrays(2 * need)
        return (*self.bufs, self.bk, self.scr)

    def rows(self, k):
        """Output row arrays for k rows (dummies when not recorded)."""
        n = self.n
        return (np.empty((k, n)), np.empty((k if self.rec_c else 0, 2 * n)),
                np.empty((k if self.rec_g else 0, 3 * n)))

    def emit_rows(self, sink, volt, cond, gate):
        """Send sample rows to the sink."""
        if volt.shape[0]:
            sink.samples(volt, cond if self.rec_c else None, gate if self.rec_g else None)

    def grow_out(self, n_out):
        """Double the raster arrays, keeping their first n_out lines."""
        grown = _raster_arrays(2 * self.out[0].size)
        for old, new in zip(self.out, grown):
            new[:n_out] = old[:n_out]
        self.out = grown

    def grow_queues(self):
        """Enlarge the big-delay ring queues (unrolled) for two spikes of every presynaptic
        neuron on top of the fullest queue."""
        q_t, q_s, q_r, q_head, q_cnt = self.q
        n, cap = q_t.shape
        new_cap = max(2 * cap, int(q_cnt.max()) + 2 * self.max_indeg)
        order = (q_head[:, None] + np.arange(cap)) % cap
        grown = []
        for a in (q_t, q_s, q_r):
            b = np.zeros((n, new_cap), a.dtype)
            b[:, :cap] = np.take_along_axis(a, order, axis=1)
            grown.append(b)
        q_head[:] = 0
        self.q = (*grown, q_head, q_cnt)


def _spike_buffers(cap):
    """buf_t, buf_i, rec_t, rec_i: the kernels' per-step spike buffers."""
    return np.empty(cap), np.empty(cap, np.int64), np.empty(cap), np.empty(cap, np.int64)


def _raster_arrays(cap):
    """out_k, out_i, out_t: a chunk's raster lines (step, neuron, time)."""
    return np.empty(cap, np.int64), np.empty(cap, np.int64), np.empty(cap)


def _first_row(st: _State, sink) -> None:
    """The t = 0 row of --output-first-data-point."""
    volt, cond, gate = st.rows(1)
    from neunet.sim.kernels_methods import write_row
    write_row(st.S, 0, volt, cond, gate, st.rec_c, st.rec_g)
    st.emit_rows(sink, volt, cond, gate)


def _run_kernel(problem, info, st, t_ms, t_ends, rows, n_rows, ev):
    """One chunk through kernels_methods.run_chunk; returns the raster lines and rows.

    The kernel stops early when the raster arrays or the delay queues are full; they are
    enlarged here and the chunk continues from the step reached.
    """
    from neunet.sim.kernels_methods import run_chunk
    from neunet.sim.kernels_step import ST_MULTI, ST_OUT_FULL, ST_QUEUE_FULL
    ptr, times, strengths = (np.ascontiguousarray(ev[0], np.int64),
                             np.ascontiguousarray(ev[1], np.float64),
                             np.ascontiguousarray(ev[2], np.float64))
    volt, cond, gate = st.rows(n_rows)
    cur, work = ptr[:-1].copy(), st.work(times.size)
    k, n_out = 0, 0
    while True:
        t_from = float(t_ms) if k == 0 else float(t_ends[k - 1])
        status, k, n_out = run_chunk(
            METHOD_IDS[problem.method], info.kid, st.cur, bool(problem.quirks), st.par,
            float(problem.dt), st.S, st.rc, st.flag, cur, t_from, k, t_ends, ptr, times,
            strengths, st.net, float(problem.delay), st.q, st.max_indeg, rows,
            (volt, cond, gate), st.rec_c, st.rec_g, work, st.out, n_out)
        if status == ST_OUT_FULL:
            st.grow_out(n_out)
        elif status == ST_QUEUE_FULL:
            st.grow_queues()
        else:
            break
    if status:
        what = ("Multiple spikes in one dt" if status == ST_MULTI
                else "Too many spikes in one time step")
        raise SimulationError(f"{what} (near t = {t_ends[min(k, len(t_ends) - 1)]:.6g} ms)")
    out_k, out_i, out_t = (a[:n_out].copy() for a in st.out)
    return out_k, out_i, out_t, volt, cond, gate


def run(problem: Problem, events: EventSource, sink: Sink) -> None:
    """Simulate `problem` with input from `events`, streaming outputs to `sink`.

    Parameters
    ----------
    problem : Problem
        The validated run description.
    events : EventSource
        Input events; ``take`` is called once per chunk of steps.
    sink : Sink
        Receives sample rows, raster lines and progress per chunk, then ``finish``.

    Raises
    ------
    SimulationError
        On runtime failures such as "Multiple spikes in one dt".
    """
    info = _check(problem)
    from neunet.sim.kernels_cache import prepare_kernel_loads
    prepare_kernel_loads()
    st = _State(problem, _as_arrays(problem, info))
    if problem.first_row:
        _first_row(st, sink)
    t_ms, step, post_count, chunk = 0.0, 0, 0, _first_chunk(problem)
    max_steps = max(CHUNK_MIN_STEPS, min(CHUNK_MAX_STEPS,
                                         CHUNK_MAX_NEURON_STEPS // (problem.nE + problem.nI)))
    while step < problem.n_steps:
        k = min(chunk, problem.n_steps - step)
        t_ends, rows, i_after, post_count, n_rows = _chunk_plan(t_ms, step, k, problem,
                                                                post_count)
        ev = events.take(t_ends)
        t0 = time.perf_counter()
        out_k, out_i, out_t, volt, cond, gate = _run_kernel(problem, info, st, t_ms, t_ends,
                                                            rows, n_rows, ev)
        elapsed = time.perf_counter() - t0
        keep = out_k >= i_after
        ids = out_i[keep]
        np.add.at(st.counts, ids, 1)
        st.emit_rows(sink, volt, cond, gate)
        if ids.size:
            sink.spikes(ids, out_t[keep] - problem.t_warmup)
        t_ms, step = t_ends[-1], step + k
        sink.progress(float(t_ms))
        chunk = _next_chunk(chunk, k, elapsed, max_steps)
    sink.finish(st.counts)


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
