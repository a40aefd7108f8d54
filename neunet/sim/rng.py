"""Poisson input exactly as gen_neu draws it: MT19937, C++ seed_seq, event chunks (spec 6).

The generator state is an int64 array of 625 entries: the 624 32-bit words and, last, the
position of the next word. Events are generated step by step over the engine's step end
times, neuron by neuron, with the start-up draws and the refill-by-12 order of spec 6.3, so
that the draws do not depend on the dynamics and a whole chunk can be produced at once.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from neunet.sim.io import output_order
from neunet.sim.kernels_cache import lean_cache_loads

lean_cache_loads()   # before the first cached kernel loads (start-up ~0.2 s less)

# Number of 32-bit words in the MT19937 state.
MT_N = 624
# Events generated per refill of a neuron's queue (spec 6.3).
REFILL = 12
# 2**32 and 2**64 as doubles (uniform from two 32-bit outputs).
_TWO32 = 4294967296.0
_TWO64 = 18446744073709551616.0
# Largest double below 1 (std::generate_canonical's clamp).
_BELOW_ONE = 1.0 - 2.0**-53
# Mask of a 32-bit word.
_M32 = 0xFFFFFFFF


@njit(cache=True, inline="always")
def _seed_legacy(mt, seed):
    """Fill mt (625) with the state of the classic init_genrand(seed) (numpy RandomState)."""
    mt[0] = seed & _M32
    for i in range(1, MT_N):
        prev = mt[i - 1]
        mt[i] = (1812433253 * (prev ^ (prev >> 30)) + i) & _M32
    mt[MT_N] = MT_N


@njit(cache=True, inline="always")
def _seed_seq(mt, words):
    """Fill mt (625) with the state seeded through C++11 std::seed_seq(words) (spec 6.2)."""
    n, s = MT_N, words.size
    b = mt                      # the generation buffer is the state's first n words
    for k in range(n):
        b[k] = 0x8B8B8B8B
    p, q = 306, 317
    m = max(s + 1, n)
    for k in range(m):
        x = b[k % n] ^ b[(k + p) % n] ^ b[(k - 1) % n]
        r1 = (1664525 * (x ^ (x >> 27))) & _M32
        if k == 0:
            r2 = (r1 + s) & _M32
        elif k <= s:
            r2 = (r1 + k % n + words[k - 1]) & _M32
        else:
            r2 = (r1 + k % n) & _M32
        b[(k + p) % n] = (b[(k + p) % n] + r1) & _M32
        b[(k + q) % n] = (b[(k + q) % n] + r2) & _M32
        b[k % n] = r2
    for k in range(m, m + n):
        x = (b[k % n] + b[(k + p) % n] + b[(k - 1) % n]) & _M32
        r3 = (1566083941 * (x ^ (x >> 27))) & _M32
        r4 = (r3 - k % n) & _M32
        b[(k + p) % n] ^= r3
        b[(k + q) % n] ^= r4
        b[k % n] = r4
    mt[n] = n


@njit(cache=True, _nrt=False)
def mt_seed(mt, words, legacy_seed):
    """Seed mt (625 int64) in place: seed_seq(words), or init_genrand(legacy_seed) if
    legacy_seed >= 0."""
    if legacy_seed >= 0:
        _seed_legacy(mt, legacy_seed)
    else:
        _seed_seq(mt, words)


def mt_legacy_state(seed: int) -> np.ndarray:
    """MT19937 state after the classic init_genrand(seed) (numpy RandomState(seed))."""
    mt = np.empty(MT_N + 1, np.int64)
    mt_seed(mt, np.zeros(0, np.int64), seed)
    return mt


def mt_seed_seq_state(words) -> np.ndarray:
    """MT19937 state seeded through C++11 std::seed_seq(words) (spec 6.2)."""
    mt = np.empty(MT_N + 1, np.int64)
    mt_seed(mt, np.ascontiguousarray(words, dtype=np.int64), -1)
    return mt


@njit(cache=True, _nrt=False)
def _mt_twist(mt):
    """Regenerate the 624 words (standard MT19937 recurrence, loops split to avoid %)."""
    for i in range(MT_N - 1):
        y = (mt[i] & 0x80000000) | (mt[i + 1] & 0x7FFFFFFF)
        src = i + 397 if i < MT_N - 397 else i + 397 - MT_N
        mt[i] = mt[src] ^ (y >> 1) ^ (0x9908B0DF * (y & 1))
    y = (mt[MT_N - 1] & 0x80000000) | (mt[0] & 0x7FFFFFFF)
    mt[MT_N - 1] = mt[396] ^ (y >> 1) ^ (0x9908B0DF * (y & 1))
    mt[MT_N] = 0


@njit(cache=True, inline="always")
def mt_next(mt):
    """Next 32-bit MT19937 output (as int64); advances the state in place."""
    if mt[MT_N] >= MT_N:
        _mt_twist(mt)
    y = mt[mt[MT_N]]
    mt[MT_N] += 1
    y ^= y >> 11
    y ^= (y << 7) & 0x9D2C5680
    y ^= (y << 15) & 0xEFC60000
    y ^= y >> 18
    return y


@njit(cache=True, _nrt=False)
def _mt_fill(mt, out):
    """Fill out with consecutive 32-bit outputs."""
    for i in range(out.size):
        out[i] = mt_next(mt)


def mt_raw(mt: np.ndarray, count: int) -> np.ndarray:
    """`count` consecutive 32-bit outputs (for tests against numpy's MT19937)."""
    out = np.empty(count, np.int64)
    _mt_fill(mt, out)
    return out


@njit(cache=True, inline="always")
def exp_draw(mt, rate):
    """Exponential interval -log(1 - U)/rate, U from two outputs (low word first)."""
    a = float(mt_next(mt))
    b = float(mt_next(mt))
    u = (a + b * _TWO32) / _TWO64
    if u >= 1.0:
        u = _BELOW_ONE
    return -math.log(1.0 - u) / rate


@njit(cache=True, _nrt=False)
def _refill(mt, j, rate_e, rate_i, str_e, str_i, next_t, q_t, q_s, q_len, count):
    """Append `count` events to neuron j's queue, earliest source first (ties: I first)."""
    for _ in range(count):
        k = q_len[j]
        if next_t[j, 0] < next_t[j, 1]:
            q_t[j, k] = next_t[j, 0]
            q_s[j, k] = str_e[j]
            next_t[j, 0] += exp_draw(mt, rate_e[j])
        else:
            q_t[j, k] = next_t[j, 1]
            q_s[j, k] = -str_i[j]
            next_t[j, 1] += exp_draw(mt, rate_i[j])
        q_len[j] = k + 1


@njit(cache=True, _nrt=False)
def poisson_init(mt, words, legacy_seed, rate_e, rate_i, str_e, str_i, next_t, q_t, q_s,
                 q_len):
    """Seed mt (see mt_seed), then the start-up draws (spec 6.3 step 1) into the queues.

    next_t (n, 2) must be +inf and q_len 0 on entry. One call, so that a process loads one
    kernel for the whole set-up.
    """
    mt_seed(mt, words, legacy_seed)
    for j in range(rate_e.size):
        if rate_e[j] > 0:
            next_t[j, 0] = exp_draw(mt, rate_e[j])
        if rate_i[j] > 0:
            next_t[j, 1] = exp_draw(mt, rate_i[j])
        if rate_e[j] > 0 or rate_i[j] > 0:
            _refill(mt, j, rate_e, rate_i, str_e, str_i, next_t, q_t, q_s, q_len, 1)


@njit(cache=True, _nrt=False)
def _heap_push(heap, size, key):
    """Push `key` onto the binary min-heap heap[:size]; returns the new size."""
    i = size
    heap[i] = key
    while i > 0:
        parent = (i - 1) >> 1
        if heap[parent] <= heap[i]:
            break
        heap[parent], heap[i] = heap[i], heap[parent]
        i = parent
    return size + 1


@njit(cache=True, _nrt=False)
def _heap_pop(heap, size):
    """Pop the smallest key of heap[:size]; returns (key, new size)."""
    top = heap[0]
    size -= 1
    heap[0] = heap[size]
    i = 0
    while True:
        c = 2 * i + 1
        if c >= size:
            break
        if c + 1 < size and heap[c + 1] < heap[c]:
            c += 1
        if heap[i] <= heap[c]:
            break
        heap[i], heap[c] = heap[c], heap[i]
        i = c
    return top, size


@njit(cache=True, inline="always")
def _count_not_above(a, x):
    """Number of entries of the ascending array a that are <= x (np.searchsorted side right,
    written out: numpy's own pulls numba.np.arraymath into every cache load)."""
    lo, hi = 0, a.size
    while lo < hi:
        mid = (lo + hi) >> 1
        if a[mid] <= x:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True, _nrt=False)
def _push_refill(heap, size, j, n, q_t, q_len, t_ends):
    """Queue neuron j under the step that consumes its last queued event (if in the chunk)."""
    step = _count_not_above(t_ends, q_t[j, q_len[j] - 1])
    if step < t_ends.size:
        size = _heap_push(heap, size, step * n + j)
    return size


@njit(cache=True, _nrt=False)
def poisson_chunk(mt, rate_e, rate_i, str_e, str_i, next_t, q_t, q_s, q_head, q_len,
                  t_ends, heap, ctl, ids, ts, ss, ptr, out_t, out_s):
    """Consume the events of the steps ending at `t_ends` (spec 6.3 step 2); resumable.

    The reference scans steps and, within a step, neurons in index order, refilling a
    neuron's queue by 12 the moment its last queued event is consumed. Only refills draw
    random numbers, so it is enough to perform the refills in (step, neuron) order: a heap
    keyed by step * n + neuron holds, for every neuron, the step that consumes its last
    queued event. Events are written to ids/ts/ss grouped by refill, so each neuron's
    events are in time order (not the output order; see output_order); queues are updated
    in place. ctl = [heap size, or -1 before the heap is built; events written so far].

    Returns 0 when ids/ts/ss are full (the caller enlarges them, keeping the first ctl[1]
    entries, and calls again), else 1, with the events also sorted by neuron into the CSR
    (ptr (n+1), out_t, out_s) (out_t, out_s as large as ids).
    """
    n, cap, k, size = rate_e.size, ids.size, ctl[1], ctl[0]
    if size < 0:
        size = 0
        for j in range(n):
            if q_len[j] > 0:
                size = _push_refill(heap, size, j, n, q_t, q_len, t_ends)
    while size > 0:
        if k + REFILL > cap:
            ctl[0], ctl[1] = size, k
            return 0
        key, size = _heap_pop(heap, size)
        j = key % n
        for m in range(q_head[j], q_len[j]):
            ids[k], ts[k], ss[k] = j, q_t[j, m], q_s[j, m]
            k += 1
        q_head[j] = 0
        q_len[j] = 0
        _refill(mt, j, rate_e, rate_i, str_e, str_i, next_t, q_t, q_s, q_len, REFILL)
        size = _push_refill(heap, size, j, n, q_t, q_len, t_ends)
    t_last = t_ends[-1]
    for j in range(n):   # queue tails consumed in this chunk (the last event stays queued)
        while q_head[j] < q_len[j] and q_t[j, q_head[j]] < t_last:
            if k == cap:
                ctl[0], ctl[1] = 0, k
                return 0
            ids[k], ts[k], ss[k] = j, q_t[j, q_head[j]], q_s[j, q_head[j]]
            k += 1
            q_head[j] += 1
    ctl[0], ctl[1] = 0, k
    _to_csr(n, ids, ts, ss, k, ptr, out_t, out_s)
    return 1


@njit(cache=True, _nrt=False)
def _to_csr(n, ids, times, strengths, count, ptr, out_t, out_s):
    """Stable counting sort of the first `count` events by neuron into (ptr, out_t, out_s)."""
    for j in range(n + 1):
        ptr[j] = 0
    for k in range(count):
        ptr[ids[k] + 1] += 1
    for j in range(n):
        ptr[j + 1] += ptr[j]
    for k in range(count):          # ptr[j] walks through neuron j's slots ...
        j = ids[k]
        out_t[ptr[j]] = times[k]
        out_s[ptr[j]] = strengths[k]
        ptr[j] += 1
    for j in range(n, 0, -1):       # ... and ends where neuron j + 1 starts: shift back
        ptr[j] = ptr[j - 1]
    ptr[0] = 0


class PoissonSource:
    """EventSource of gen_neu's Poisson input (see engine.EventSource).

    Parameters
    ----------
    rate_e, rate_i, str_e, str_i : array_like (n,)
        Per-neuron rates (1/ms) and strengths (>= 0; inhibitory events carry -str_i).
    seed : None or sequence of int
        None: legacy seed 1 (the reference without --seed); else the seed_seq words.
    on_events : callable or None
        Called as ``on_events(ids, times, strengths)`` with each chunk's events in the
        reference's --output-poisson-path order (ids 0-based).
    """

    def __init__(self, rate_e, rate_i, str_e, str_i, seed=None, on_events=None):
        self._params = tuple(np.ascontiguousarray(a, dtype=np.float64)
                             for a in (rate_e, rate_i, str_e, str_i))
        n = self.n = self._params[0].size
        self._mt = np.empty(MT_N + 1, np.int64)
        words = np.ascontiguousarray(() if seed is None else seed, dtype=np.int64)
        next_t, q_t, q_s = np.full((n, 2), np.inf), np.empty((n, REFILL)), np.empty((n, REFILL))
        q_head, q_len = np.zeros(n, np.int64), np.zeros(n, np.int64)
        poisson_init(self._mt, words, 1 if seed is None else -1, *self._params, next_t, q_t,
                     q_s, q_len)
        self._queues = (next_t, q_t, q_s, q_head, q_len)
        self._heap, self._ptr = np.empty(n, np.int64), np.empty(n + 1, np.int64)
        self._bufs = self._new_buffers(64)
        self._t_last = 0.0
        self._on_events = on_events

    @staticmethod
    def _new_buffers(cap):
        """ids, ts, ss, out_t, out_s with room for cap events."""
        return (np.empty(cap, np.int64), np.empty(cap), np.empty(cap), np.empty(cap),
                np.empty(cap))

    def _room(self, t_ends):
        """Buffers with room for the expected events of this chunk plus a margin."""
        span_ms = max(float(t_ends[-1]) - self._t_last, 0.0)
        rates = self._params[0].sum() + self._params[1].sum()
        want = int(1.2 * rates * span_ms) + (REFILL + 1) * self.n + 64
        if want > self._bufs[0].size:
            self._bufs = self._new_buffers(want)
        return self._bufs

    @property
    def mt(self) -> np.ndarray:
        """The MT19937 state (625 int64) the events are drawn from, shared by reference."""
        return self._mt

    def queues(self) -> tuple:
        """(rate_e, rate_i, str_e, str_i, next_t, q_t, q_s, q_head, q_len): the arrays a
        kernel that consumes the events itself works on (kernels_hawkes); never mixed with
        `take` in one run."""
        return (*self._params, *self._queues)

    def writes_events(self) -> bool:
        """True when the events go to an on_events callback (--output-poisson-path)."""
        return self._on_events is not None

    def emit(self, ids, times, strengths):
        """Hand events consumed by such a kernel to on_events (already in output order)."""
        if self._on_events is not None and len(ids):
            self._on_events(ids, times, strengths)

    def take(self, t_ends):
        """Events of the steps ending at `t_ends`, as CSR by neuron (ptr, times, strengths)."""
        t_ends = np.ascontiguousarray(t_ends, dtype=np.float64)
        bufs, ctl = self._room(t_ends), np.array([-1, 0], np.int64)
        while not poisson_chunk(self._mt, *self._params, *self._queues, t_ends, self._heap,
                                ctl, *bufs[:3], self._ptr, *bufs[3:]):
            k = int(ctl[1])
            grown = self._new_buffers(2 * bufs[0].size)
            for old, new in zip(bufs[:3], grown):
                new[:k] = old[:k]
            bufs = self._bufs = grown
        self._t_last = float(t_ends[-1])
        k = int(ctl[1])
        ids, times, strengths = bufs[0][:k], bufs[1][:k], bufs[2][:k]
        if self._on_events is not None:
            o = output_order(t_ends, ids, times)
            self._on_events(ids[o], times[o], strengths[o])
        return self._ptr.copy(), bufs[3][:k].copy(), bufs[4][:k].copy()
