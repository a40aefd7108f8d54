"""Runners of the models with kernels of their own: IF-jump(-delay), HH-GH-cont-syn, Hawkes-GH.

Each keeps its run's arrays and advances chunk by chunk like engine_network.NetworkRunner
(``chunk`` -> raster lines and sample rows), calling its kernel again after enlarging a full
raster or queue. IF-jump and cont-syn take each step's input events in (time, neuron)
order, the order the reference processes them in (kernels_events); a forced reset does
nothing to them (as in the reference). Hawkes-GH consumes generated Poisson events inside
its kernel, since its thresholds are drawn from the same generator.
"""
from __future__ import annotations

import numpy as np

from neunet.sim.engine_network import Runner, SimulationError, csr_events, spike_buffers

# IF-jump leak conductance G_L (1/ms) and reset potential.
IF_JUMP_GL, IF_JUMP_VRESET = 0.05, 0.0
# IF-jump: input events per block of steps put in time order at once (a block's sort stays
# in the cache; kernels_events.gather_block).
BLOCK_EVENTS = 16384
# Initial capacity of the IF-jump-delay heap of delayed kicks (grown as needed).
HEAP_START = 1024


def step_buffers(ev):
    """A chunk's CSR events, each neuron's next one, and a step buffer large enough for all
    of them: (ev, cur, g, gctl) as the cont-syn kernel takes them."""
    ev = csr_events(ev)
    m = ev[1].size
    g = (np.empty(m), np.empty(m, np.int64), np.empty(m), np.empty(m), np.empty(m, np.int64),
         np.empty(m))
    return ev, ev[0][:-1].copy(), g, np.array([0, 0, -1], np.int64)


def block_buffers(ev, n):
    """A chunk's CSR events, the block scratch (each neuron's next event, scratch of m and
    of m + 1), the buffer of a block's events in (time, neuron) order and its position:
    (ev, blk, g, gctl) as the IF-jump kernels take them (kernels_events.gather_block)."""
    ev = csr_events(ev)
    m = ev[1].size
    g = (np.empty(m), np.empty(m, np.int64), np.empty(m), np.empty(m), np.empty(m, np.int64),
         np.empty(m))
    blk = (ev[0][:-1].copy(), np.empty(m, np.int64), np.empty(m + 1, np.int64))
    return ev, blk, g, np.array([0, 0, -1, BLOCK_EVENTS], np.int64)


def _net(problem):
    """The kernels' network tuple."""
    return (int(problem.nE), problem.post_ptr, problem.post_idx, problem.post_w,
            np.array([problem.scee, problem.scie, problem.scei, problem.scii], float))


def _fail(status, t_ends, k):
    """Raise the SimulationError of a kernel status other than ok / full."""
    raise SimulationError(f"Too many spikes in one time step (status {status}, near t = "
                          f"{t_ends[min(k, len(t_ends) - 1)]:.6g} ms)")


class IFJumpRunner(Runner):
    """IF-jump and IF-jump-delay (kernels_ifjump)."""

    def __init__(self, problem, info, S, events):
        super().__init__(problem, info, S, events)
        self.rec_g = False
        thr = info.threshold if problem.threshold is None else problem.threshold
        tref = info.refractory if problem.refractory is None else problem.refractory
        self.q = np.array([thr, tref, IF_JUMP_GL, IF_JUMP_VRESET])
        self.net = _net(problem)
        n = self.n
        self.scr = (np.empty(2 * n + 1), np.zeros(n, np.int8), np.empty(2 * n + 1, np.int64),
                    np.empty(n + 1, np.int64))
        self.delayed = problem.method == "IF-jump-delay"
        if self.delayed:
            delays = problem.delays
            if delays is None:
                delays = np.full(problem.post_idx.size, float(problem.delay))
            self.delays = np.ascontiguousarray(delays, np.float64)
            self.heap = _heap(HEAP_START + 2 * problem.post_idx.size)
            self.ctl = np.zeros(2, np.int64)

    def first_row(self, sink):
        from neunet.sim.kernels_ifjump import write_ifjump_row
        volt, cond, gate = self.rows(1)
        write_ifjump_row(self.S, 0, volt, cond, self.rec_c)
        self.emit_rows(sink, volt, cond, gate)

    def chunk(self, t_ms, t_ends, rows, n_rows, forced):
        from neunet.sim.kernels_ifjump import ifjump_chunk, ifjump_delay_chunk
        from neunet.sim.kernels_step import ST_OUT_FULL, ST_QUEUE_FULL
        ev, blk, g, gctl = block_buffers(self.events.take(t_ends), self.n)
        volt, cond, gate = self.rows(n_rows)
        k, n_out, status = 0, 0, ST_OUT_FULL
        if self.out[0].size < 4 * self.n + 64:
            self.grow_out(0, 4 * self.n + 64)
        while k < t_ends.size or status:
            if self.delayed:
                status, k, n_out = ifjump_delay_chunk(
                    self.S, self.q, t_ends, k, blk, ev, g, gctl, self.net, self.delays,
                    self.heap, self.ctl, rows, (volt, cond), self.rec_c, self.scr, self.out,
                    n_out)
            else:
                status, k, n_out = ifjump_chunk(
                    self.S, self.q, t_ends, k, blk, ev, g, gctl, self.net, rows,
                    (volt, cond), self.rec_c, self.scr, self.out, n_out)
            if status == ST_OUT_FULL:
                self.grow_out(n_out, self.n + 1)
            elif status == ST_QUEUE_FULL:
                self.heap = _grow_heap(self.heap, int(self.ctl[0]), self.delays.size)
            elif status:
                _fail(status, t_ends, k)
        return (*self.raster(n_out), volt, cond, gate)


def _heap(cap):
    """Arrays of the delayed-kick heap: times, neurons, insertion numbers, strengths."""
    return np.empty(cap), np.empty(cap, np.int64), np.empty(cap, np.int64), np.empty(cap)


def _grow_heap(heap, size, n_edges):
    """A larger heap (at least doubled, room for n_edges more) holding the first size
    entries."""
    grown = _heap(max(2 * heap[0].size, size + 2 * n_edges + HEAP_START))
    for old, new in zip(heap, grown):
        new[:size] = old[:size]
    return grown


class ContSynRunner(Runner):
    """HH-GH-cont-syn with the cont-syn method (kernels_contsyn)."""

    def __init__(self, problem, info, S, events):
        super().__init__(problem, info, S, events)
        self.th = float(info.threshold if problem.threshold is None else problem.threshold)
        self.net = _net(problem)
        n = self.n
        self.scr = tuple(np.empty((8, n)) for _ in range(6))
        self.bufs = spike_buffers(n + 1)

    def chunk(self, t_ms, t_ends, rows, n_rows, forced):
        from neunet.sim.kernels_contsyn import contsyn_chunk
        from neunet.sim.kernels_step import ST_OUT_FULL
        ev, cur, g, gctl = step_buffers(self.events.take(t_ends))
        volt, cond, gate = self.rows(n_rows)
        k, n_out, status, t = 0, 0, ST_OUT_FULL, float(t_ms)
        if self.out[0].size < 4 * self.n + 64:
            self.grow_out(0, 4 * self.n + 64)
        while k < t_ends.size or status:
            status, k, t, n_out = contsyn_chunk(
                self.S, self.th, t, t_ends, k, cur, ev, g, gctl, self.net, rows,
                (volt, cond, gate), self.rec_c, self.rec_g, self.scr, self.bufs[0],
                self.bufs[1], self.out, n_out)
            if status == ST_OUT_FULL:
                self.grow_out(n_out, self.n + 1)
            elif status:
                _fail(status, t_ends, k)
        return (*self.raster(n_out), volt, cond, gate)


class HawkesRunner(Runner):
    """Hawkes-GH with the simple method (kernels_hawkes)."""

    def __init__(self, problem, info, S, events):
        super().__init__(problem, info, S, events)
        self.rec_g = False
        i0 = info.threshold if problem.threshold is None else problem.threshold
        self.hp = np.array([float(i0), 0.0])
        self.net = _net(problem)
        self.gen = hasattr(events, "queues")
        n = self.n
        # the reference draws a step's events before the step when it writes them out
        self.pregen = self.gen and problem.quirks and events.writes_events()
        self.sb = (np.zeros(n + 1, np.int64), np.zeros(n, np.int64))
        if self.gen:
            rates = events.queues()[0].sum() + events.queues()[1].sum()
            self.used_room = int(4 * rates * problem.dt) + 12 * n + 64
        else:
            self.used_room = 0
        self.used = _used(max(4 * self.used_room, 1024) if self.gen else 0)
        self.bufs = spike_buffers(4 * n + 64)

    def quiet_steps(self) -> int:
        return int(self.hp[1])

    def force(self, ids):
        """Forced reset (--force-spike-list): V := 0, as the reference's VoltHandReset."""
        for i in ids:
            self.S[0, int(i)] = 0.0

    def chunk(self, t_ms, t_ends, rows, n_rows, forced):
        from neunet.sim.kernels_hawkes import hawkes_chunk
        from neunet.sim.kernels_step import ST_OUT_FULL
        p, n = self.problem, self.n
        if self.gen:
            pq, ev = self.events.queues(), (np.zeros(n + 1, np.int64), np.zeros(0), np.zeros(0))
            cur = np.zeros(n, np.int64)
        else:
            ev = csr_events(self.events.take(t_ends))
            pq, cur = _no_queues(), ev[0][:-1].copy()
        volt, cond, gate = self.rows(n_rows)
        k, n_out = 0, 0
        if self.out[0].size < 2 * self.bufs[0].size:
            self.grow_out(0, 2 * self.bufs[0].size)
        for step, ids in [*forced, (t_ends.size, ())]:
            while k < step:
                t = float(t_ms) if k == 0 else float(t_ends[k - 1])
                status, k, n_out = hawkes_chunk(
                    self.S, self.hp, bool(p.quirks), t, t_ends[:step], k, self.gen,
                    self.pregen, cur, ev, pq, p.mt, self.used, self.used_room, self.sb,
                    self.net, rows, (volt, cond), self.rec_c, *self.bufs[:2], self.out, n_out)
                self._flush_used()
                if status == ST_OUT_FULL and n_out + self.bufs[0].size > self.out[0].size:
                    self.grow_out(n_out, self.bufs[0].size)
                elif status and status != ST_OUT_FULL:
                    _fail(status, t_ends, k)
            self.force(ids)
        return (*self.raster(n_out), volt, cond, gate)

    def _flush_used(self):
        """Hand the generated events consumed so far to the Poisson output, in order."""
        count = int(self.used[3][0])
        if count:
            self.events.emit(*(a[:count].copy() for a in self.used[:3]))
            self.used[3][0] = 0


def _used(cap):
    """Buffer of consumed generated events: ids, times, strengths, [count]."""
    return (np.empty(cap, np.int64), np.empty(cap), np.empty(cap), np.zeros(1, np.int64))


def _no_queues():
    """Empty stand-ins for the Poisson queues when the input comes from a file."""
    z = np.zeros(0)
    return (z, z, z, z, np.zeros((0, 2)), np.zeros((0, 1)), np.zeros((0, 1)),
            np.zeros(0, np.int64), np.zeros(0, np.int64))
