"""HH-GH-cont-syn kernels against a numpy RK4 of the equations written from the spec (8.6)."""
import numpy as np

from neunet.sim.kernels_contsyn import rk4_network, spike_time

# Constants (spec 8.6; voltages in units of 10 mV).
VNA, VK, VL, GNA, GK, GL, VGE, VGI = 11.5, -1.2, 1.06, 120.0, 36.0, 0.3, 6.5, -1.5
# Synaptic time constants (ms): G and H, E then I.
TGE, THE, TGI, THI = 0.5, 3.0, 0.5, 7.0


def np_derivs(x, A, sc, nE):
    """dx/dt of the network (rows V, h, m, n, gE, gI, HE, HI) with the textbook rates."""
    v, h, m, n, ge, gi, he, hi = x
    am, bm = (v - 2.5) / (1 - np.exp(2.5 - v)), 4 * np.exp(-v / 1.8)
    ah, bh = 0.07 * np.exp(-v / 2), 1 / (1 + np.exp(3 - v))
    an, bn = 0.1 * (v - 1) / (1 - np.exp(1 - v)), 0.125 * np.exp(-v / 8)
    d = np.array([
        -GL * (v - VL) - GNA * m**3 * h * (v - VNA) - GK * n**4 * (v - VK) - ge * (v - VGE)
        - gi * (v - VGI),
        ah * (1 - h) - bh * h, am * (1 - m) - bm * m, an * (1 - n) - bn * n,
        -ge / TGE + he, -gi / TGI + hi, -he / THE, -hi / THI])
    act = np.where(v > 4, 1 / (1 + np.exp(-5 * (v - 8.5))), 0.0)
    N = len(v)
    scm = np.empty((N, N))
    for i in range(N):
        for j in range(N):
            scm[i, j] = (sc[0] if i < nE else sc[1]) if j < nE else (sc[2] if i < nE else sc[3])
    drive = (A * scm) * act[None, :]
    d[6] += drive[:, :nE].sum(axis=1)
    d[7] += drive[:, nE:].sum(axis=1)
    return d


def test_network_rk4_step_matches_numpy():
    rng = np.random.default_rng(1)
    N, nE = 6, 4
    A = (rng.random((N, N)) < 0.6) * rng.uniform(0.5, 1.5, (N, N))
    np.fill_diagonal(A, 0)
    sc = np.array([0.3, 0.2, 0.5, 0.4])
    x = np.array([rng.uniform(-1, 10, N), rng.uniform(0.1, 0.6, N), rng.uniform(0.05, 0.9, N),
                  rng.uniform(0.3, 0.7, N), rng.uniform(0, 0.2, N), rng.uniform(0, 0.2, N),
                  rng.uniform(0, 0.5, N), rng.uniform(0, 0.5, N)])
    x[:4, 0] = (6.45, 0.5, 0.9, 0.4)            # rising through the threshold (6.5)
    h = 0.03
    k1 = np_derivs(x, A, sc, nE)
    k2 = np_derivs(x + k1 * h / 2, A, sc, nE)
    k3 = np_derivs(x + k2 * h / 2, A, sc, nE)
    k4 = np_derivs(x + k3 * h, A, sc, nE)
    want = x + (k1 + 2 * k2 + 2 * k3 + k4) * h / 6
    pre, post = np.nonzero(A.T)
    order = np.lexsort((post, pre))
    ptr = np.zeros(N + 1, np.int64)
    np.cumsum(np.bincount(pre, minlength=N), out=ptr[1:])
    net = (nE, ptr, post[order].astype(np.int64), A.T[pre, post][order], sc)
    S = x.copy()
    scr = tuple(np.empty((8, N)) for _ in range(6))
    buf_t, buf_i = np.empty(N), np.empty(N, np.int64)
    nb = rk4_network(S, h, 1.0, net, 6.5, scr, buf_t, buf_i)
    assert np.max(np.abs(S - want)) < 1e-12
    crossed = np.flatnonzero((x[0] < 6.5) & (S[0] >= 6.5))
    assert sorted(buf_i[:nb].tolist()) == crossed.tolist() and 0 in crossed
    assert np.all((buf_t[:nb] >= 1.0) & (buf_t[:nb] <= 1.0 + h))


def test_spike_time_is_the_hermite_crossing():
    b, va, vb, dva, dvb, th = 0.03, 6.0, 7.2, 35.0, 50.0, 6.5
    t = spike_time(b, va, vb, dva, dvb, th)
    s = t / b
    p = ((2 * s**3 - 3 * s**2 + 1) * va + (s**3 - 2 * s**2 + s) * b * dva
         + (-2 * s**3 + 3 * s**2) * vb + (s**3 - s**2) * b * dvb)
    assert 0 < t < b and abs(p - th) < 1e-11
    assert spike_time(b, 7.0, 7.2, 1.0, 1.0, th) == 0.0      # not bracketed: the start
