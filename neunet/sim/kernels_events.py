"""Numba helper of the kernels that take a step's input events of all neurons in time order.

IF-jump and cont-syn process the events of a step in (time, neuron) order, as the reference
sorts them. ``gather_step`` moves every neuron's events before the step end (each neuron's
in file order) into a step buffer and sorts it by (time, neuron) with a stable bottom-up
merge sort (equal keys keep their order), without allocating: the caller owns the buffers.
"""
from numba import njit


@njit(cache=True, _nrt=False)
def _merge_pass(key, src, dst, m, width):
    """Merge the sorted runs of length width of the index array src pairwise into dst, by
    key[index]; equal keys keep their order (stable). Branch-free choice of the next entry:
    the comparisons of random times would mispredict half the time."""
    for lo in range(0, m, 2 * width):
        mid = min(lo + width, m)
        hi = min(lo + 2 * width, m)
        a, b, o = lo, mid, lo
        while a < mid and b < hi:
            xa, xb = src[a], src[b]
            take_b = key[xb] < key[xa]
            dst[o] = xb if take_b else xa
            b += take_b
            a += 1 - take_b
            o += 1
        while a < mid:
            dst[o] = src[a]
            a += 1
            o += 1
        while b < hi:
            dst[o] = src[b]
            b += 1
            o += 1


@njit(cache=True, _nrt=False)
def sort_events(g, m):
    """Stable sort of the first m entries of g = (times, ids, strengths, scratch times,
    scratch indices, scratch strengths) by time; entries gathered in neuron order then end
    up in (time, neuron) order."""
    (g_t, g_i, g_s, h_t, h_i, h_s) = g
    if m < 2:
        return
    p, q = h_i, g_i          # index permutation and its scratch (g_i is copied to h_s)
    for x in range(m):
        h_s[x] = g_i[x]
        p[x] = x
    width, flip = 1, False
    while width < m:
        if flip:
            _merge_pass(g_t, q, p, m, width)
        else:
            _merge_pass(g_t, p, q, m, width)
        flip = not flip
        width *= 2
    perm = q if flip else p
    for x in range(m):
        h_t[x] = g_t[perm[x]]
    for x in range(m):
        g_t[x] = h_t[x]
        h_t[x] = g_s[perm[x]]
    for x in range(m):
        g_s[x] = h_t[x]
    for x in range(m):
        h_t[x] = h_s[perm[x]]
    for x in range(m):
        g_i[x] = int(h_t[x])


@njit(cache=True, _nrt=False)
def gather_step(cur, ev_ptr, ev_t, ev_s, t_end, g):
    """Take every neuron's events with time < t_end (cur: each neuron's next event) into
    g[0:3], sorted by (time, neuron); returns their number."""
    (g_t, g_i, g_s) = g[0], g[1], g[2]
    m = 0
    for j in range(cur.shape[0]):
        k, stop = cur[j], ev_ptr[j + 1]
        while k < stop and ev_t[k] < t_end:
            g_t[m], g_i[m], g_s[m] = ev_t[k], j, ev_s[k]
            m += 1
            k += 1
        cur[j] = k
    sort_events(g, m)
    return m
