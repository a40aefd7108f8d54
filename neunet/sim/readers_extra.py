"""Readers of the per-synapse and per-neuron input files: delays, constants, forced spikes.

--synaptic-net-delay (spec 3.2), --tau-g-path and --neuron-const-path (3.4) and
--force-spike-list. Each raises ``SimInputError`` naming the file (and the line or the
entry) at fault; the values come back as numpy arrays for the engine's Problem.
"""
from __future__ import annotations

import numpy as np

from neunet.sim.options import SimInputError
from neunet.sim.readers import _read_numbers, _read_text

# Words of a delay file's first line that announce the sparse 'i j delay' form.
SPARSE_WORD = "sparse"


def _delay_table(path, n):
    """The delay matrix D (n, n) of a --synaptic-net-delay file (0 where not given)."""
    text = _read_text(path, "delay file")
    lines = text.splitlines()
    head = lines[0].lstrip() if lines else ""
    sparse = head[:1] in ("#", "%") and SPARSE_WORD in head.lower()
    body = "\n".join(lines[1:]) if head[:1] in ("#", "%") else text
    try:
        a = np.array(body.split(), dtype=np.float64)
    except ValueError:
        raise SimInputError(f"delay file {path}: holds something that is not a number") \
            from None
    if not sparse:
        if a.size != n * n:
            raise SimInputError(f"delay file {path} has {a.size} numbers, expected n*n = "
                                f"{n * n} (or a first line '# sparse' and 'i j delay' lines)")
        return a.reshape(n, n)
    if a.size % 3:
        raise SimInputError(f"delay file {path}: sparse form needs 'i j delay' lines")
    d = np.zeros((n, n))
    for i, j, v in a.reshape(-1, 3):
        if v == 0 or not np.isfinite(v) or i == j:
            continue
        if not (i == int(i) and j == int(j) and 1 <= i <= n and 1 <= j <= n):
            raise SimInputError(f"delay file {path}: neuron index in '{i:g} {j:g} {v:g}' "
                                f"outside 1..{n}")
        d[int(i) - 1, int(j) - 1] = v          # a repeated entry: the last one counts
    return d


def read_delay_net(path: str, n: int, post_ptr, post_idx, min_delay: float,
                   what: str) -> np.ndarray:
    """Delays of the net's edges from a --synaptic-net-delay file (spec 3.2).

    Parameters
    ----------
    path : str
    n : int
    post_ptr, post_idx : ndarray
        The net in CSR by presynaptic neuron (readers.read_net).
    min_delay : float
        Smallest delay allowed (ms).
    what : str
        Why (the method), for the message about a delay below min_delay.

    Returns
    -------
    ndarray
        float64, the delay D[i][j] of each edge j -> i in the CSR order of post_idx.
    """
    table = _delay_table(path, n)
    pre = np.repeat(np.arange(n), np.diff(post_ptr))
    delays = table[post_idx, pre]
    bad = np.flatnonzero(~np.isfinite(delays) | (delays < min_delay))
    if bad.size:
        k = bad[0]
        raise SimInputError(f"delay file {path}: the delay {delays[k]:g} of the edge "
                            f"{pre[k] + 1} -> {post_idx[k] + 1} is below {min_delay:g} ms "
                            f"({what})")
    return np.ascontiguousarray(delays)


def read_tau_g(path: str, n: int) -> np.ndarray:
    """--tau-g-path: 4 numbers per neuron, tau_gE_s1 tau_gE tau_gI_s1 tau_gI -> (n, 4)."""
    a = _read_numbers(path, "--tau-g-path file")
    if a.size != 4 * n:
        raise SimInputError(f"--tau-g-path file {path} has {a.size} numbers, expected 4 per "
                            f"neuron (tau_gE_s1 tau_gE tau_gI_s1 tau_gI) = {4 * n}")
    a = a.reshape(n, 4)
    _check_taus(path, a[:, 1], a[:, 0], a[:, 3], a[:, 2])
    return a


def _check_taus(path, tge, the, tgi, thi):
    """Time constants must be positive, and each G constant differ from its H constant."""
    for name, g, h in (("E", tge, the), ("I", tgi, thi)):
        bad = np.flatnonzero(~(g > 0) | ~(h > 0) | ~np.isfinite(g) | ~np.isfinite(h)
                             | (g == h))
        if bad.size:
            k = bad[0]
            raise SimInputError(f"{path}: neuron {k + 1} has tau_g{name} {g[k]:g} and "
                                f"tau_g{name}_s1 {h[k]:g}; both must be finite, > 0 and "
                                "different (equal ones give 0/0 in the propagator)")


def read_neuron_consts(path: str, n: int, names: tuple) -> np.ndarray:
    """--neuron-const-path: the model's constants `names` for each neuron -> (n, len(names))."""
    k = len(names)
    a = _read_numbers(path, "--neuron-const-path file")
    if a.size != k * n:
        raise SimInputError(f"--neuron-const-path file {path} has {a.size} numbers, "
                            f"expected {k} per neuron ({' '.join(names)}) = {k * n}")
    a = a.reshape(n, k)
    if not np.all(np.isfinite(a)):
        raise SimInputError(f"--neuron-const-path file {path} holds a non-finite number")
    col = {name: a[:, c] for c, name in enumerate(names)}
    _check_taus(path, col["tau_gE"], col["tau_gE_s1"], col["tau_gI"], col["tau_gI_s1"])
    return a


def read_force_list(path: str, n: int, require_order: bool) -> tuple:
    """--force-spike-list: 'id time' pairs -> (ids 0-based int64, times float64), file order.

    With `require_order` the times must not decrease (neunet's default); gen_neu takes the
    list as it is and stops at the first entry out of order (see engine.ForceList).
    """
    a = _read_numbers(path, "--force-spike-list file")
    if a.size % 2:
        raise SimInputError(f"--force-spike-list file {path}: needs 'id time' pairs, got an "
                            f"odd count of numbers ({a.size})")
    ids, times = a[0::2], a[1::2]
    bad = np.flatnonzero((ids != np.floor(ids)) | (ids < 1) | (ids > n))
    if bad.size:
        raise SimInputError(f"--force-spike-list file {path}: entry {bad[0] + 1} has neuron "
                            f"id {ids[bad[0]]:g}, outside 1..{n}")
    if not np.all(np.isfinite(times)):
        raise SimInputError(f"--force-spike-list file {path} holds a non-finite time")
    back = np.flatnonzero(np.diff(times) < 0)
    if require_order and back.size:
        k = back[0] + 1
        raise SimInputError(f"--force-spike-list file {path}: entry {k + 1} (time "
                            f"{times[k]:g}) comes before the one above it; list the times "
                            "in order")
    return ids.astype(np.int64) - 1, times.copy()
