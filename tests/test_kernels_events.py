"""gather_block and gather_step against numpy's stable sort of the events in neuron order."""
import numpy as np
import pytest

from neunet.sim.kernels_events import INSERTION_MAX, gather_block, gather_step


def csr(ids, times, n):
    """CSR by neuron (each neuron's events in the given order) of events ids/times."""
    order = np.argsort(ids, kind="stable")
    ptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(ids, minlength=n), out=ptr[1:])
    return ptr, times[order].astype(np.float64), ids[order].astype(np.float64) + 0.5


def buffers(m):
    return (np.empty(m), np.empty(m, np.int64), np.empty(m), np.empty(m),
            np.empty(m, np.int64), np.empty(m))


def expected(ptr, times, strengths):
    """Stable sort by time of the events in neuron (CSR) order: (times, ids, strengths)."""
    ids = np.repeat(np.arange(ptr.size - 1), np.diff(ptr))
    o = np.argsort(times, kind="stable")
    return times[o], ids[o], strengths[o]


def chunk_times(rng, kind, m):
    """Event times of one kind of chunk (each neuron's events get sorted by the caller)."""
    if kind == "uniform":
        return rng.uniform(0.0, 50.0, m)
    if kind == "ties":             # a few distinct times: equal keys keep neuron order
        return rng.integers(0, 4, m) * 0.25
    if kind == "crowded":          # most events in a sliver, one far: buckets > INSERTION_MAX
        t = 10.0 + rng.uniform(0.0, 1e-9, m)
        t[:1] = -1e3
        return t
    return np.full(m, 3.0)


@pytest.mark.parametrize("kind", ["uniform", "ties", "crowded", "same"])
@pytest.mark.parametrize("m", [0, 1, 7, 40 * INSERTION_MAX])
def test_gather_block_is_a_stable_time_sort_in_neuron_order(kind, m):
    rng = np.random.default_rng(m)
    n = 13
    ids = rng.integers(0, n, m)
    times = chunk_times(rng, kind, m)
    order = np.lexsort((times, ids))            # each neuron's events in time order
    ptr, t, s = csr(ids[order], times[order], n)
    g = buffers(m)
    blk = (ptr[:-1].copy(), np.empty(m, np.int64), np.empty(m + 1, np.int64))
    got = [[], [], []]
    for t_end in (10.0 + 5e-10, 40.0, np.inf):     # blocks, the last takes the rest
        k = gather_block(blk, ptr, t, s, t_end, g)
        assert np.all(g[0][:k] < t_end)
        for a, b in zip(got, g[:3]):
            a.append(b[:k].copy())
    np.testing.assert_array_equal(blk[0], ptr[1:])
    for a, b in zip(got, expected(ptr, t, s)):
        np.testing.assert_array_equal(np.concatenate(a), b)


def test_gather_step_takes_the_events_before_the_step_end_in_order():
    rng = np.random.default_rng(1)
    n, m = 9, 300
    ids = rng.integers(0, n, m)
    times = rng.integers(0, 40, m) * 0.125
    order = np.lexsort((times, ids))
    ptr, t, s = csr(ids[order], times[order], n)
    cur, g = ptr[:-1].copy(), buffers(m)
    taken = []
    for t_end in (1.0, 2.5, 5.0):
        k = gather_step(cur, ptr, t, s, t_end, g)
        taken.append(g[0][:k].copy())
        assert np.all(np.diff(g[0][:k]) >= 0) and np.all(g[0][:k] < t_end)
    np.testing.assert_array_equal(np.concatenate(taken), expected(ptr, t, s)[0])
