"""Numba IF-jump network kernels (spec 8.7, 9.8, 9.9): exact decay between input jumps.

A neuron's state lives in rows 0-3 of the engine's S: V at its last update, the time of that
update t_last, the last spike time t_spike, and V_grid (V at the end of the last step, the
volt output). Between events V decays exactly, V(t) = V(t_last) exp(-G_L (t - t_last)); an
input of strength s at time t first brings V to t, then adds s unless the neuron is
refractory (t - t_spike <= T_ref); V > threshold fires at exactly t (V := V_reset).

``ifjump_chunk`` (method IF-jump): the input events are put in (time, neuron) order a block
of steps at a time (kernels_events.gather_block); each step takes the next ones before its
end. A spike
kicks its post neurons at the same instant (summed per post neuron over the neurons that
fired in the same round), round after round.
``ifjump_delay_chunk`` (IF-jump-delay): a spike sends a kick of A[i][j] sc to each post
neuron i at t + D[i][j] instead, held in a binary heap; events at the same time form one
batch (the delayed ones first, consecutive ones for the same neuron summed). Both stop early
(status ST_OUT_FULL / ST_QUEUE_FULL) before an event when the raster or the heap might
overflow; the caller enlarges them and calls again from the returned step and event.
"""
import math

from numba import njit

from neunet.sim.kernels_events import gather_block
from neunet.sim.kernels_neuron import fexp
from neunet.sim.kernels_step import ST_OK, ST_OUT_FULL, ST_QUEUE_FULL

# Rows of the IF-jump state in S: V, t_last, t_spike, V_grid.
R_V, R_TL, R_TS, R_VG = 0, 1, 2, 3
# Indices into the IF-jump parameter vector: threshold, T_ref, G_L, V_reset.
Q_THRESH, Q_TREF, Q_GL, Q_VRESET = 0, 1, 2, 3
# Touched neurons above 1/SCAN_FRACTION of the network: a cascade round scans all neurons
# in index order instead of sorting its list.
SCAN_FRACTION = 8


@njit(cache=True, inline='always')
def _kick(S, j, t, s, q):
    """Bring neuron j to time t (exact decay), then add s unless it is refractory at t."""
    tl = S[R_TL, j]
    if tl != t:
        S[R_V, j] *= fexp(-(t - tl) * q[Q_GL])
        S[R_TL, j] = t
    if not (t - S[R_TS, j] <= q[Q_TREF]):
        S[R_V, j] += s


@njit(cache=True, inline='always')
def _refractory(S, j, t, q):
    """True while neuron j is refractory at time t."""
    return t - S[R_TS, j] <= q[Q_TREF]


@njit(cache=True, inline='always')
def _fire(S, j, t, q):
    """Neuron j fires at t: V := V_reset, t_spike = t_last = t."""
    S[R_TS, j] = t
    S[R_TL, j] = t
    S[R_V, j] = q[Q_VRESET]


@njit(cache=True, inline='always')
def _sc(sc, nE, post, pre):
    """Signed kick of one unit of weight from pre to post: +scee/+scie, -scei/-scii."""
    if pre < nE:
        return sc[0] if post < nE else sc[1]
    return -sc[2] if post < nE else -sc[3]


@njit(cache=True, _nrt=False)
def grid_volt_gl(S, t, gl):
    """V_grid of every neuron := V(t_last) exp(-G_L (t - t_last)) (no state change)."""
    for j in range(S.shape[1]):
        S[R_VG, j] = S[R_V, j] * fexp(-(t - S[R_TL, j]) * gl)


@njit(cache=True, _nrt=False)
def _sort_ints(a, m):
    """Insertion sort of a[:m] (short lists of touched neurons)."""
    for x in range(1, m):
        v = a[x]
        y = x - 1
        while y >= 0 and a[y] > v:
            a[y + 1] = a[y]
            y -= 1
        a[y + 1] = v


@njit(cache=True, _nrt=False)
def _spread(cos, ncos, net, inc, mark, lst):
    """Sum the kicks of the neurons cos[:ncos] per post neuron; return the touched list."""
    (nE, post_ptr, post_idx, post_w, sc) = net
    nt = 0
    for c in range(ncos):
        p = cos[c]
        for e in range(post_ptr[p], post_ptr[p + 1]):
            i = post_idx[e]
            if not mark[i]:
                mark[i] = 1
                inc[i] = 0.0
                lst[nt] = i
                nt += 1
            inc[i] += post_w[e] * _sc(sc, nE, i, p)
    return nt


@njit(cache=True, _nrt=False)
def _cascade(S, t, j, k, q, net, scr, out, n_out):
    """Spikes triggered at instant t by neuron j's spike, round by round (spec 9.8)."""
    (inc, mark, lst, cos) = scr
    (out_k, out_i, out_t) = out
    n = S.shape[1]
    cos[0] = j
    ncos = 1
    while ncos:
        nt = _spread(cos, ncos, net, inc, mark, lst)
        scan = nt * SCAN_FRACTION > n
        if not scan:
            _sort_ints(lst, nt)
        ncos = 0
        for x in range(n if scan else nt):
            i = x if scan else lst[x]
            if not mark[i]:
                continue
            mark[i] = 0
            if _refractory(S, i, t, q):
                continue
            _kick(S, i, t, inc[i], q)
            if S[R_V, i] > q[Q_THRESH]:
                _fire(S, i, t, q)
                out_k[n_out], out_i[n_out], out_t[n_out] = k, i, t
                n_out += 1
                cos[ncos] = i
                ncos += 1
    return n_out


@njit(cache=True, _nrt=False)
def write_ifjump_row(S, row, out_v, out_c, rec_c):
    """Sample row: V_grid of every neuron (the conductance file holds V_grid twice)."""
    for j in range(S.shape[1]):
        out_v[row, j] = S[R_VG, j]
        if rec_c:
            out_c[row, 2 * j] = S[R_VG, j]
            out_c[row, 2 * j + 1] = S[R_VG, j]


@njit(cache=True, inline='always')
def _block_events(k, t_ends, blk, ev, g, gctl):
    """The events of the block of steps that holds step k, in (time, neuron) order in g
    (gathered at the block's first step; gctl = [next event, count, first step after the
    block, events wanted per block], gctl[2] = -1 at a chunk's start). A block has about
    gctl[3] events (at least 4 per neuron). Returns (next event, count)."""
    if k >= gctl[2]:
        n, n_steps = blk[0].shape[0], t_ends.shape[0]
        want = max(gctl[3], 4 * n)
        steps = max(1, want * n_steps // max(1, ev[0][n] - ev[0][0]))
        gctl[2] = min(n_steps, k + steps)
        gctl[1] = gather_block(blk, ev[0], ev[1], ev[2], t_ends[gctl[2] - 1], g)
        gctl[0] = 0
    return gctl[0], gctl[1]


@njit(cache=True, _nrt=False)
def ifjump_chunk(S, q, t_ends, k, blk, ev, g, gctl, net, row_of_step, rows, rec_c, scr,
                 out, n_out):
    """IF-jump over the steps k, k+1, ... ending at t_ends. ev = (ptr, times, strengths)
    the chunk's events by neuron, blk = (each neuron's next one, scratch, scratch) and g
    the buffer of a block's events in (time, neuron) order (see kernels_events.gather_block)
    and gctl its position (see _block_events). Returns (status, step reached, n_out)."""
    n = S.shape[1]
    cap = out[0].shape[0]
    g_t, g_i, g_s = g[0], g[1], g[2]
    while k < t_ends.shape[0]:
        t_end = t_ends[k]
        e, m = _block_events(k, t_ends, blk, ev, g, gctl)
        while e < m and g_t[e] < t_end:
            if n_out + n + 1 > cap:
                gctl[0] = e
                return ST_OUT_FULL, k, n_out
            t, j = g_t[e], g_i[e]
            _kick(S, j, t, g_s[e], q)
            e += 1
            if S[R_V, j] > q[Q_THRESH]:
                _fire(S, j, t, q)
                out[0][n_out], out[1][n_out], out[2][n_out] = k, j, t
                n_out = _cascade(S, t, j, k, q, net, scr, out, n_out + 1)
        gctl[0] = e
        if row_of_step[k] >= 0:
            grid_volt_gl(S, t_end, q[Q_GL])
            write_ifjump_row(S, row_of_step[k], rows[0], rows[1], rec_c)
        k += 1
    return ST_OK, k, n_out


@njit(cache=True, inline='always')
def _before(h_t, h_i, h_q, a, b):
    """Heap order: entry a before entry b by (time, neuron, insertion number)."""
    if h_t[a] != h_t[b]:
        return h_t[a] < h_t[b]
    if h_i[a] != h_i[b]:
        return h_i[a] < h_i[b]
    return h_q[a] < h_q[b]


@njit(cache=True, inline='always')
def _swap(heap, a, b):
    """Exchange heap entries a and b."""
    h_t, h_i, h_q, h_s = heap[0], heap[1], heap[2], heap[3]
    h_t[a], h_t[b] = h_t[b], h_t[a]
    h_i[a], h_i[b] = h_i[b], h_i[a]
    h_q[a], h_q[b] = h_q[b], h_q[a]
    h_s[a], h_s[b] = h_s[b], h_s[a]


@njit(cache=True, _nrt=False)
def heap_push(heap, ctl, t, i, s):
    """Add a delayed kick (time t, neuron i, strength s); ctl = [size, insertion counter]."""
    h_t, h_i, h_q, h_s = heap[0], heap[1], heap[2], heap[3]
    x = ctl[0]
    h_t[x], h_i[x], h_q[x], h_s[x] = t, i, ctl[1], s
    ctl[0] += 1
    ctl[1] += 1
    while x > 0:
        p = (x - 1) >> 1
        if not _before(h_t, h_i, h_q, x, p):
            break
        _swap(heap, x, p)
        x = p


@njit(cache=True, _nrt=False)
def heap_pop(heap, ctl):
    """Remove the first entry (it is moved to index ctl[0] after the call)."""
    h_t, h_i, h_q = heap[0], heap[1], heap[2]
    size = ctl[0] - 1
    _swap(heap, 0, size)
    ctl[0] = size
    x = 0
    while True:
        c = 2 * x + 1
        if c >= size:
            break
        if c + 1 < size and _before(h_t, h_i, h_q, c + 1, c):
            c += 1
        if not _before(h_t, h_i, h_q, c, x):
            break
        _swap(heap, x, c)
        x = c


@njit(cache=True, _nrt=False)
def _batch(heap, ctl, t, t_end, e, m, g, b_i, b_s):
    """Collect the events at time t: delayed kicks first, then inputs (before t_end);
    consecutive ones for the same neuron are summed. Returns (batch size, next input)."""
    ev_t, ev_i, ev_s = g[0], g[1], g[2]
    nb = 0
    while ctl[0] > 0 and heap[0][0] == t:
        i, s = heap[1][0], heap[3][0]
        heap_pop(heap, ctl)
        if nb > 0 and b_i[nb - 1] == i:
            b_s[nb - 1] += s
        else:
            b_i[nb], b_s[nb] = i, s
            nb += 1
    while e < m and ev_t[e] == t and t < t_end:
        if nb > 0 and b_i[nb - 1] == ev_i[e]:
            b_s[nb - 1] += ev_s[e]
        else:
            b_i[nb], b_s[nb] = ev_i[e], ev_s[e]
            nb += 1
        e += 1
    return nb, e


@njit(cache=True, _nrt=False)
def _apply_batch(S, t, k, nb, b_i, b_s, q, net, delay, heap, ctl, out, n_out):
    """Apply one batch at time t; each neuron that fires sends its delayed kicks."""
    (nE, post_ptr, post_idx, post_w, sc) = net
    for x in range(nb):
        j = b_i[x]
        _kick(S, j, t, b_s[x], q)
        if S[R_V, j] > q[Q_THRESH]:
            _fire(S, j, t, q)
            out[0][n_out], out[1][n_out], out[2][n_out] = k, j, t
            n_out += 1
            for ed in range(post_ptr[j], post_ptr[j + 1]):
                i = post_idx[ed]
                heap_push(heap, ctl, t + delay[ed], i, post_w[ed] * _sc(sc, nE, i, j))
    return n_out


@njit(cache=True, _nrt=False)
def ifjump_delay_chunk(S, q, t_ends, k, blk, ev, g, gctl, net, delay, heap, ctl,
                       row_of_step, rows, rec_c, scr, out, n_out):
    """IF-jump-delay over the steps k, k+1, ... (see ifjump_chunk); delay[edge] aligned with
    the CSR edges of net. Delayed kicks at exactly a step end belong to that step, inputs
    at a step end to the next one (as in the reference). Returns (status, k, n_out)."""
    n, n_edges = S.shape[1], net[2].shape[0]
    b_i, b_s = scr[2], scr[0]          # batch: at most 2n entries (scratch of 2n)
    while k < t_ends.shape[0]:
        t_end = t_ends[k]
        e, m = _block_events(k, t_ends, blk, ev, g, gctl)
        while True:
            t_in = g[0][e] if e < m else math.inf
            t_q = heap[0][0] if ctl[0] > 0 else math.inf
            if t_in >= t_end and t_q > t_end:
                break
            if n_out + n > out[0].shape[0] or ctl[0] + n_edges > heap[0].shape[0]:
                gctl[0] = e
                full = n_out + n > out[0].shape[0]
                return (ST_OUT_FULL if full else ST_QUEUE_FULL), k, n_out
            t = t_q if t_q <= t_in else t_in
            nb, e = _batch(heap, ctl, t, t_end, e, m, g, b_i, b_s)
            n_out = _apply_batch(S, t, k, nb, b_i, b_s, q, net, delay, heap, ctl, out, n_out)
        gctl[0] = e
        if row_of_step[k] >= 0:
            grid_volt_gl(S, t_end, q[Q_GL])
            write_ifjump_row(S, row_of_step[k], rows[0], rows[1], rec_c)
        k += 1
    return ST_OK, k, n_out
