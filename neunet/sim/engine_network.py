"""The runner of the delta-interaction network models: buffers and chunk calls of run_chunk.

A runner owns one run's mutable arrays (the kernels allocate nothing) and advances the
network chunk by chunk: ``chunk(t_ms, t_ends, rows, n_rows, forced)`` takes the chunk's input
events, runs the kernel (stopping before each step that has forced resets, and whenever the
kernel asks for larger raster arrays or delay queues) and returns the chunk's raster lines
and sample rows. ``engine.run`` drives it; the other model families have runners in
``engine_special``.
"""
from __future__ import annotations

import numpy as np

from neunet.sim.engine_inputs import kernel_params
from neunet.sim.errors import SimulationError
from neunet.sim.models import METHODS

# Initial length of each neuron's delay queue (grown as needed).
DELAY_QUEUE_START = 16
# Methods that roll neurons back to backups (they need the backup arrays).
_ROLLBACK = ("SSC", "SSC-Sparse", "SSC-Sparse2")


def spike_buffers(cap):
    """buf_t, buf_i, rec_t, rec_i: the kernels' per-step spike buffers."""
    return np.empty(cap), np.empty(cap, np.int64), np.empty(cap), np.empty(cap, np.int64)


def raster_arrays(cap):
    """out_k, out_i, out_t: a chunk's raster lines (step, neuron, time)."""
    return np.empty(cap, np.int64), np.empty(cap, np.int64), np.empty(cap)


def csr_events(ev):
    """An event source's chunk (ptr, times, strengths) with the kernels' dtypes."""
    return (np.ascontiguousarray(ev[0], np.int64), np.ascontiguousarray(ev[1], np.float64),
            np.ascontiguousarray(ev[2], np.float64))


class Runner:
    """What every runner shares: state S (8, n), output flags, raster arrays, row arrays."""

    def __init__(self, problem, info, S, events):
        self.problem, self.info, self.events = problem, info, events
        self.n = problem.nE + problem.nI
        self.S = S
        self.rec_c = problem.record_conductance
        self.rec_g = problem.record_ion_gate
        self.out = raster_arrays(0)

    def rows(self, k):
        """Output row arrays for k rows (dummies when not recorded)."""
        n = self.n
        return (np.empty((k, n)), np.empty((k if self.rec_c else 0, 2 * n)),
                np.empty((k if self.rec_g else 0, 3 * n)))

    def emit_rows(self, sink, volt, cond, gate):
        """Send sample rows to the sink."""
        if volt.shape[0]:
            sink.samples(volt, cond if self.rec_c else None, gate if self.rec_g else None)

    def grow_out(self, n_out, need=0):
        """Enlarge the raster arrays (at least doubled, room for `need` more), keeping their
        first n_out lines."""
        grown = raster_arrays(max(2 * self.out[0].size, n_out + need, 64))
        for old, new in zip(self.out, grown):
            new[:n_out] = old[:n_out]
        self.out = grown

    def raster(self, n_out):
        """Copies of the first n_out raster lines (step, neuron, time)."""
        return tuple(a[:n_out].copy() for a in self.out)

    def first_row(self, sink):
        """The t = 0 row of --output-first-data-point."""
        from neunet.sim.kernels_methods import write_row
        volt, cond, gate = self.rows(1)
        write_row(self.S, 0, volt, cond, gate, self.rec_c, self.rec_g)
        self.emit_rows(sink, volt, cond, gate)

    def quiet_steps(self) -> int:
        """The reference's count of single-neuron quiet steps so far (NoInteractDt calls)."""
        return 0


class NetworkRunner(Runner):
    """Runner of the network models (LIF, DIF, HH families) with the methods of run_chunk."""

    def __init__(self, problem, info, S, events):
        super().__init__(problem, info, S, events)
        n = self.n
        self.rec_g = problem.record_ion_gate and 3 <= info.kid <= 6
        self.rc = np.zeros(n)
        self.flag = np.zeros(n, np.int8)
        self.par, self.cur = kernel_params(problem, info, n)
        self.net = (int(problem.nE), problem.post_ptr, problem.post_idx, problem.post_w,
                    np.array([problem.scee, problem.scie, problem.scei, problem.scii], float))
        self.delays = _edge_delays(problem)
        cap = DELAY_QUEUE_START if "delay" in problem.method else 1
        self.q = (np.zeros((n, cap)), np.zeros((n, cap)), np.zeros((n, cap), np.int64),
                  np.zeros(n, np.int64), np.zeros(n, np.int64))
        indeg = np.bincount(problem.post_idx, minlength=n) if problem.post_idx.size else [0]
        self.max_indeg = int(np.max(indeg))
        m = n if problem.method in _ROLLBACK else 0
        self.bk = (np.empty((8, m)), np.empty(m), np.empty(m, np.int8), np.empty(m, np.int64),
                   np.empty(m), np.zeros(m, np.int64))
        self.scr = (np.empty((8, n)), np.empty(n), np.zeros((3, n)), np.zeros(n, np.int8),
                    np.empty(n, np.int64), np.empty((3, n)))
        self.bufs = spike_buffers(0)
        self.sp = _sparse_lists(0, 0)

    def quiet_steps(self) -> int:
        from neunet.sim.kernels_neuron import P_QC
        return int(self.par[P_QC])

    def work(self, n_events):
        """Kernel scratch for a chunk with n_events input events (spike buffers grown)."""
        need = 4 * self.n + n_events + 16
        if self.bufs[0].size < need:
            self.bufs = spike_buffers(need)
            if self.problem.method in ("SSC-Sparse", "SSC-Sparse2"):
                self.sp = _sparse_lists(self.n, need)
        if self.out[0].size < 2 * need:
            self.grow_out(0, 2 * need)
        return (*self.bufs, self.bk, self.scr, self.sp)

    def grow_queues(self):
        """Enlarge the delay ring queues (unrolled) for two spikes of every presynaptic
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

    def force(self, ids):
        """Forced resets (--force-spike-list) of neurons ids, between two steps."""
        from neunet.sim.kernels_step import force_reset
        for i in ids:
            force_reset(self.S, self.rc, self.flag, int(i), self.info.kid, self.par,
                        bool(self.problem.quirks))

    def chunk(self, t_ms, t_ends, rows, n_rows, forced):
        """Advance over the steps ending at t_ends: (out_k, out_i, out_t, volt, cond, gate).

        forced = [(step, neuron ids), ...]: resets applied at the start of those steps.
        """
        ptr, times, strengths = csr_events(self.events.take(t_ends))
        volt, cond, gate = self.rows(n_rows)
        cur, work = ptr[:-1].copy(), self.work(times.size)
        k, n_out = 0, 0
        for step, ids in [*forced, (t_ends.size, ())]:
            k, n_out = self._run(t_ms, t_ends, k, step, rows, (volt, cond, gate), cur,
                                 (ptr, times, strengths), work, n_out)
            self.force(ids)
        return (*self.raster(n_out), volt, cond, gate)

    def _run(self, t_ms, t_ends, k, stop, rows, out_rows, cur, ev, work, n_out):
        """run_chunk from step k to step stop (exclusive), growing arrays as asked."""
        from neunet.sim.kernels_methods import run_chunk
        from neunet.sim.kernels_step import ST_MULTI, ST_OUT_FULL, ST_QUEUE_FULL
        p = self.problem
        ends = t_ends[:stop]
        status = 0
        while k < stop:
            t_from = float(t_ms) if k == 0 else float(t_ends[k - 1])
            status, k, n_out = run_chunk(
                METHODS.index(p.method), self.info.kid, self.cur, bool(p.quirks), self.par,
                float(p.dt), self.S, self.rc, self.flag, cur, t_from, k, ends, *ev, self.net,
                self.delays, self.q, self.max_indeg, rows, out_rows, self.rec_c, self.rec_g,
                work, self.out, n_out)
            if status == ST_OUT_FULL:
                self.grow_out(n_out)
            elif status == ST_QUEUE_FULL:
                self.grow_queues()
            elif status:
                what = ("Multiple spikes in one dt" if status == ST_MULTI
                        else "Too many spikes in one time step")
                raise SimulationError(f"{what} (near t = {t_ends[min(k, len(t_ends) - 1)]:.6g}"
                                      " ms)")
        return k, n_out


def _edge_delays(problem):
    """Delay of each edge (CSR order) for the delay methods, else an empty array."""
    if problem.delays is not None:
        return np.ascontiguousarray(problem.delays, np.float64)
    if problem.method == "big-delay":
        return np.full(problem.post_idx.size, float(problem.delay))
    return np.zeros(0)


def _sparse_lists(n, cap):
    """SSC-Sparse scratch: affected list, marks, fired flags, a spike buffer of cap."""
    return (np.empty(n + 1, np.int64), np.zeros(n, np.int8), np.zeros(n, np.int8),
            np.empty(cap), np.empty(cap, np.int64))
