"""Numba helpers of the kernels that take input events of all neurons in time order.

IF-jump and cont-syn process the events of a step in (time, neuron) order, as the reference
sorts them: a stable sort by time of the events taken in neuron order (each neuron's in file
order). ``gather_step`` (cont-syn) moves every neuron's events before the step end into a
step buffer and sorts it with a stable bottom-up merge sort; ``order_chunk`` (IF-jump) sorts
a whole chunk's events at once, by a stable counting sort into time buckets (about one event
each) followed by a stable sort of each bucket, so that each step's events are the next ones
before its end. Neither allocates: the caller owns the buffers.
"""
import math

from numba import njit

# Buckets of order_chunk with more events than this are merge-sorted, smaller ones by
# insertion (events crowded into a short time would make insertion quadratic).
INSERTION_MAX = 32
# Mean events per bucket of order_chunk.
EVENTS_PER_BUCKET = 1


@njit(cache=True, _nrt=False)
def _merge_pass(key, src, dst, lo0, hi0, width):
    """Merge the sorted runs of length width (from lo0) of the index array src[lo0:hi0]
    pairwise into dst, by key[index]; equal keys keep their order (stable). Branch-free
    choice of the next entry: the comparisons of random times would mispredict half the
    time."""
    for lo in range(lo0, hi0, 2 * width):
        mid = min(lo + width, hi0)
        hi = min(lo + 2 * width, hi0)
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
def sort_range(g, lo, hi):
    """Stable sort of the entries lo..hi-1 of g = (times, ids, strengths, scratch times,
    scratch indices, scratch strengths) by time; entries in neuron order then end up in
    (time, neuron) order."""
    (g_t, g_i, g_s, h_t, h_i, h_s) = g
    if hi - lo < 2:
        return
    p, q = h_i, g_i          # index permutation and its scratch (g_i is copied to h_s)
    for x in range(lo, hi):
        h_s[x] = g_i[x]
        p[x] = x
    width, flip = 1, False
    while width < hi - lo:
        if flip:
            _merge_pass(g_t, q, p, lo, hi, width)
        else:
            _merge_pass(g_t, p, q, lo, hi, width)
        flip = not flip
        width *= 2
    perm = q if flip else p
    for x in range(lo, hi):
        h_t[x] = g_t[perm[x]]
    for x in range(lo, hi):
        g_t[x] = h_t[x]
        h_t[x] = g_s[perm[x]]
    for x in range(lo, hi):
        g_s[x] = h_t[x]
    for x in range(lo, hi):
        h_t[x] = h_s[perm[x]]
    for x in range(lo, hi):
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
    sort_range(g, 0, m)
    return m


@njit(cache=True, _nrt=False)
def _insertion_sort(g_t, g_i, g_s, lo, hi):
    """Stable insertion sort of entries lo..hi-1 of (g_t, g_i, g_s) by g_t."""
    for x in range(lo + 1, hi):
        t = g_t[x]
        if not t < g_t[x - 1]:
            continue
        i, s = g_i[x], g_s[x]
        y = x - 1
        while y >= lo and g_t[y] > t:
            g_t[y + 1], g_i[y + 1], g_s[y + 1] = g_t[y], g_i[y], g_s[y]
            y -= 1
        g_t[y + 1], g_i[y + 1], g_s[y + 1] = t, i, s


@njit(cache=True, _nrt=False)
def _take_block(cur, ev_ptr, ev_t, ev_s, t_end, h):
    """Copy every neuron's events from cur with time < t_end (cur advanced) into h[0:3] in
    neuron order; returns (their number, earliest time, latest time)."""
    (h_t, h_i, h_s) = h[3], h[4], h[5]
    m, lo, hi = 0, math.inf, -math.inf
    for j in range(cur.shape[0]):
        k, end = cur[j], ev_ptr[j + 1]
        while k < end and ev_t[k] < t_end:
            t = ev_t[k]
            lo = min(lo, t)
            hi = max(hi, t)
            h_t[m], h_i[m], h_s[m] = t, j, ev_s[k]
            m += 1
            k += 1
        cur[j] = k
    return m, lo, hi


@njit(cache=True, _nrt=False)
def _bucket_counts(h_t, m, nb, lo, scale, bucket, count):
    """Bucket of each event (a non-decreasing function of its time) into bucket[:m]; then
    count[b] := first slot of bucket b."""
    for b in range(nb + 1):
        count[b] = 0
    for x in range(m):
        b = min(int((h_t[x] - lo) * scale), nb - 1)
        bucket[x] = b
        count[b + 1] += 1
    for b in range(nb):
        count[b + 1] += count[b]


@njit(cache=True, _nrt=False)
def gather_block(blk, ev_ptr, ev_t, ev_s, t_end, g):
    """Take every neuron's events with time < t_end into g[0:3] sorted by (time, neuron):
    a stable sort by time of the events in neuron order (copied to g[3:6] first, so that
    the sort works on the block's events alone), by a stable counting sort into time
    buckets and a stable sort of each bucket. blk = (cur, bucket, count): each neuron's
    next event (advanced), int64 scratch of at least m and m + 1. Returns m, the number of
    events taken."""
    (g_t, g_i, g_s, h_t, h_i, h_s) = g
    (cur, bucket, count) = blk
    m, lo, hi = _take_block(cur, ev_ptr, ev_t, ev_s, t_end, g)
    if m == 0:
        return 0
    nb = max(1, m // EVENTS_PER_BUCKET)
    _bucket_counts(h_t, m, nb, lo, nb / (hi - lo) if hi > lo else 0.0, bucket, count)
    for x in range(m):                        # stable scatter
        p = count[bucket[x]]
        count[bucket[x]] = p + 1
        g_t[p], g_i[p], g_s[p] = h_t[x], h_i[x], h_s[x]
    lo = 0                                    # count[b] is now the end of bucket b
    for b in range(nb):
        hi = count[b]
        if hi - lo > INSERTION_MAX:
            sort_range(g, lo, hi)
        elif hi - lo > 1:
            _insertion_sort(g_t, g_i, g_s, lo, hi)
        lo = hi
    return m
