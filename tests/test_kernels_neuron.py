"""Kernel physics checked against slow pure-numpy versions written from the spec (7.1-7.3, 8).

The numpy reference uses np.exp and the textbook rate formulas; the kernels use the polynomial
exp and the 2-exp/1-division rates, so agreement is to round-off (1e-12), not bit-exact.
"""
import math

import numpy as np
import pytest

from neunet.sim.kernels_fast import hh_full_step
from neunet.sim.kernels_hermite import (
    _cubic_fallback,
    _peak_once,
    hermite_peak,
    hermite_root,
    solve_cubic,
)
from neunet.sim.kernels_neuron import (
    CUR_CONST,
    CUR_NONE,
    CUR_SINE,
    DIF_GH,
    HH_G,
    HH_GH,
    LIF_G,
    LIF_GH,
    N_PAR,
    cond_coefs,
    fexp,
)
from neunet.sim.kernels_step import quiet

# Time constants (g, H) of E and I per model family, from spec section 8.
TAUS = {LIF_G: (2.0, None, 5.0, None), LIF_GH: (2.0, 0.5, 5.0, 0.8),
        DIF_GH: (2.0, 0.5, 5.0, 0.8), HH_G: (3.0, None, 7.0, None), HH_GH: (0.5, 3.0, 0.5, 7.0)}


def np_prop(g, H, h, tg, th, factor=None):
    """Exact propagator of g' = -g/tg + H, H' = -H/th (single exponential when th is None)."""
    if th is None:
        return g * np.exp(-h / tg), H
    k = tg * th / (tg - th) if factor is None else factor
    return np.exp(-h / tg) * g + (np.exp(-h / tg) - np.exp(-h / th)) * k * H, np.exp(-h / th) * H


def np_lif_f(v, ge, gi, dif):
    f = -0.05 * v - ge * (v - 14 / 3) - gi * (v + 2 / 3)
    return f + (0.01 * ge * gi * (v - 14 / 3) if dif else 0.0)


def np_hh_f(y, ge, gi, cur):
    v, h, m, n = y
    am = (2.5 - 0.1 * v) / (np.exp(2.5 - 0.1 * v) - 1)
    bm = 4 * np.exp(-v / 18)
    ah = 0.07 * np.exp(-v / 20)
    bh = 1 / (np.exp(3 - 0.1 * v) + 1)
    an = (0.1 - 0.01 * v) / (np.exp(1 - 0.1 * v) - 1)
    bn = 0.125 * np.exp(-v / 80)
    dv = (-120 * m ** 3 * h * (v - 115) - 36 * n ** 4 * (v + 12) - 0.3 * (v - 10.6)
          - ge * (v - 65) - gi * (v + 15) + cur)
    return np.array([dv, (1 - h) * ah - h * bh, (1 - m) * am - m * bm, (1 - n) * an - n * bn])


def np_step(model, s, t0, h, quirks=False, cur=lambda t: 0.0):
    """One mixed RK4 quiet step (spec 7.2) of state s = [V, h, m, n, gE, gI, HE, HI]."""
    s = np.array(s, float)
    tge, the, tgi, thi = TAUS[model]
    fi = tgi * thi / (tgi - the) if (quirks and model == HH_GH) else None

    def half(c):
        ge, he = np_prop(c[0], c[2], h / 2, tge, the)
        gi, hi = np_prop(c[1], c[3], h / 2, tgi, thi, fi)
        return np.array([ge, gi, he, hi])
    c0 = s[4:8]
    c1 = half(c0)
    c2 = half(c1)
    if model >= HH_G:
        f = lambda y, c, t: np_hh_f(y, c[0], c[1], cur(t))
        y0 = s[:4]
    else:
        f = lambda y, c, t: np.array([np_lif_f(y[0], c[0], c[1], model == DIF_GH)])
        y0 = s[:1]
    k1 = f(y0, c0, t0)
    k2 = f(y0 + h / 2 * k1, c1, t0 + h / 2)
    k3 = f(y0 + h / 2 * k2, c1, t0 + h / 2)
    k4 = f(y0 + h * k3, c2, t0 + h)
    out = s.copy()
    out[:len(y0)] = y0 + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    out[4:8] = c2
    return out


def _start(model, n):
    rng = np.random.default_rng(model)
    S = np.zeros((8, n))
    if model >= HH_G:
        S[:4] = np.array([2.7756626542950876e-04, 0.596, 0.0529, 0.3177])[:, None]
        S[0] += rng.uniform(-3, 3, n)
        S[4:6] = rng.uniform(0, 0.3, (2, n))
    else:
        S[0] = rng.uniform(-0.2, 0.8, n)
        S[4:6] = rng.uniform(0, 0.1, (2, n))
    if model in (LIF_GH, DIF_GH, HH_GH):
        S[6:8] = rng.uniform(0, 0.2, (2, n))
    return S


def _par(th, cur_amp=0.0, n=1, ext=0.0):
    par = np.zeros(N_PAR)
    par[:6] = [th, 2.0, cur_amp, 0.05, ext, n]
    return par


@pytest.mark.parametrize("model", [LIF_G, LIF_GH, DIF_GH, HH_G, HH_GH])
@pytest.mark.parametrize("quirks", [False, True])
def test_scalar_quiet_step_matches_numpy(model, quirks):
    dt = 1 / 32
    S = _start(model, 1)
    ref = S[:, 0].copy()
    rc, flag = np.zeros(1), np.zeros(1, np.int8)
    par = _par(1e9)
    for k in range(200):
        h = dt if k % 3 else 0.011          # also lengths other than dt
        ts, err = quiet(S, rc, flag, 0, k * dt, h, model, CUR_NONE, par, quirks, dt,
                        cond_coefs(model, dt / 2, quirks))
        ref = np_step(model, ref, k * dt, h, quirks)
        assert ts == -1.0 and err == 0
    assert np.allclose(S[:, 0], ref, rtol=1e-12, atol=1e-13)


def test_kappa_quirk_changes_only_inhibition():
    S0 = _start(HH_GH, 1)
    S0[4], S0[6] = 0.0, 0.0
    a, b = np_step(HH_GH, S0[:, 0], 0, 1 / 32, False), np_step(HH_GH, S0[:, 0], 0, 1 / 32, True)
    assert a[5] != b[5] and a[4] == b[4]
    da = a[5] - np_prop(S0[5, 0], 0.0, 1 / 32, 0.5, 7.0)[0]
    db = b[5] - np_prop(S0[5, 0], 0.0, 1 / 32, 0.5, 7.0)[0]
    assert db / da == pytest.approx(2.6, rel=1e-9)      # kappa = (0.5 - 7)/(0.5 - 3)


@pytest.mark.parametrize("cur_kind", [CUR_SINE, CUR_CONST])
def test_hh_external_current_matches_numpy(cur_kind):
    n, dt = 3, 1 / 32
    S = _start(HH_GH, n)
    ref = S.copy()
    par = _par(1e9, cur_amp=4.0, n=n, ext=2.5)
    rc, flag = np.zeros(n), np.zeros(n, np.int8)
    for k in range(100):
        for i in range(n):
            quiet(S, rc, flag, i, k * dt, dt, HH_GH, cur_kind, par, False, dt,
                  cond_coefs(HH_GH, dt / 2, False))
            cur = ((lambda t, i=i: 4.0 * math.sin(2 * math.pi * 0.05 * t + 2 * math.pi * i / n))
                   if cur_kind == CUR_SINE else (lambda t: 2.5))
            ref[:, i] = np_step(HH_GH, ref[:, i], k * dt, dt, cur=cur)
    assert np.allclose(S, ref, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("model", [HH_GH, HH_G])
def test_vector_full_step_equals_scalar_step(model):
    n, dt = 37, 1 / 32
    S = _start(model, n)
    Sv = S.copy()
    rc, flag = np.zeros(n), np.zeros(n, np.int8)
    par = _par(1e9, n=n)
    cf = cond_coefs(model, dt / 2, False)
    K1 = np.empty(n)
    for k in range(50):
        for i in range(n):
            quiet(S, rc, flag, i, k * dt, dt, model, CUR_NONE, par, False, dt, cf)
        hh_full_step(Sv, K1, np.zeros((3, n)), dt, cf)
    assert np.array_equal(S, Sv)                          # same inlined arithmetic: bit-exact


def test_fexp_accuracy():
    x = np.linspace(-700, 700, 200001)
    got = np.array([fexp(v) for v in x[::97]])
    assert np.max(np.abs(got / np.exp(x[::97]) - 1)) < 1e-15


def _hermite(v0, v1, d0, d1, h, s):
    """The cubic Hermite interpolant at local time s*h (numpy)."""
    c = [v0, h * d0, 3 * (v1 - v0) - 2 * h * d0 - h * d1, 2 * (v0 - v1) + h * d0 + h * d1]
    return c[0] + c[1] * s + c[2] * s * s + c[3] * s ** 3


@pytest.mark.parametrize("v0,v1,d0,d1", [(0.9, 1.2, 5.0, 12.0), (60.0, 70.0, 300.0, 350.0),
                                         (0.99, 1.01, 0.2, 1.5), (64.0, 90.0, 10.0, 2000.0)])
def test_hermite_root_is_first_crossing(v0, v1, d0, d1):
    h, th = 1 / 32, (1.0 if v1 < 10 else 65.0)
    t = hermite_root(v0, v1, d0, d1, th, h, False)
    assert 0 <= t <= h
    assert _hermite(v0, v1, d0, d1, h, t / h) == pytest.approx(th, abs=1e-10)
    s = np.linspace(0, t / h, 200)[:-1]
    assert np.all(_hermite(v0, v1, d0, d1, h, s) < th)


def test_hermite_peak():
    h = 0.1
    t = hermite_peak(80.0, 80.5, 30.0, -40.0, h, False)
    s = np.linspace(0, 1, 100001)
    vals = _hermite(80.0, 80.5, 30.0, -40.0, h, s)
    assert t == pytest.approx(h * s[np.argmax(vals)], abs=1e-5 * h)
    assert hermite_peak(80.0, 81.0, 10.0, 10.0, h, False) == -1.0       # straight rise: no peak


def test_hermite_root_fallback_when_the_crossing_is_the_step_end():
    """v1 == threshold puts the root at s = 1, where the closed form can land just outside
    [0, 1]: the fallback must return the step end exactly; the reference's 6 bisections +
    4 Newton steps (quirks) return a normalised s, close to 1."""
    rng = np.random.default_rng(0)
    h, th, used = 1 / 32, 65.0, 0
    for _ in range(300):
        v0, d0, d1 = th - abs(rng.normal()) * 5, rng.normal() * 300, rng.normal() * 300
        t = hermite_root(v0, th, d0, d1, th, h, False)
        t_quirk = hermite_root(v0, th, d0, d1, th, h, True)
        s = np.linspace(0, 1, 2001)[:-1]
        if np.any(_hermite(v0, th, d0, d1, h, s) >= th):
            continue                              # an earlier crossing: not this path
        assert t == pytest.approx(h, abs=1e-10 * h)   # closed form: round-off ~1e-11
        if t_quirk != t:                          # the fallback ran (quirk: no * h)
            used += 1
            assert t_quirk == pytest.approx(1.0, abs=1e-3)
    assert used > 20


def test_cubic_fallback_against_numpy():
    rng = np.random.default_rng(4)
    for _ in range(200):
        root = rng.uniform(0.05, 0.95)
        a, b = abs(rng.normal()) + 0.1, rng.normal() * 0.2     # monotone: one real root
        c3, c2, c1 = a, -3 * a * root, 3 * a * root ** 2 + b * b + 0.01
        c0 = -(c1 * root + c2 * root ** 2 + c3 * root ** 3)
        assert _cubic_fallback(c0, c1, c2, c3, False) == pytest.approx(root, abs=1e-12)
        assert _cubic_fallback(c0, c1, c2, c3, True) == pytest.approx(root, abs=1e-8)


def test_hermite_peak_mirrored_retry_when_the_peak_is_the_step_end():
    """d1 == 0 puts the maximum at s = 1, where the direct solve can miss it; the mirrored
    retry must find it at the step end."""
    rng = np.random.default_rng(1)
    h, retried = 1 / 32, 0
    for _ in range(1000):
        v0, d0 = 80 + rng.normal(), abs(rng.normal()) * 50 + 1
        v1 = v0 + h * d0 * rng.uniform(0.2, 0.6)
        if _peak_once(v0, v1, d0, 0.0, h) >= 0:
            continue
        retried += 1
        t = hermite_peak(v0, v1, d0, 0.0, h, False)
        s = np.linspace(0, 1, 100001)
        assert t == pytest.approx(h * s[np.argmax(_hermite(v0, v1, d0, 0.0, h, s))],
                                  abs=1e-5 * h)
    assert retried > 20


def test_solve_cubic_against_numpy():
    rng = np.random.default_rng(3)
    for _ in range(200):
        a, b, c = rng.normal(size=3) * 3
        cnt, *xs = solve_cubic(a, b, c)
        real = np.sort(np.roots([1, a, b, c]).real[np.abs(np.roots([1, a, b, c]).imag) < 1e-7])
        assert cnt in (1, 3)
        if cnt == 1 and len(real) == 1:
            assert xs[0] == pytest.approx(real[0], abs=1e-8)
        elif cnt == 3 and len(real) == 3:
            assert np.allclose(np.sort(xs), real, atol=1e-6)


@pytest.mark.parametrize("model,cur_kind", [(HH_GH, CUR_NONE), (HH_G, CUR_SINE)])
def test_rounds_equal_scalar_evolution(model, cur_kind):
    """evolve_all (vector full step + HH rounds through the input events) leaves state,
    event cursors and spikes bit-identical to evolving every neuron one at a time."""
    from neunet.sim.kernels_fast import evolve_all, evolve_all_scalar
    n, dt, steps = 40, 1 / 32, 200
    rng = np.random.default_rng(5)
    ids = rng.integers(0, n, 3000)
    times = np.sort(rng.uniform(0, steps * dt, 3000))
    times[::7] = np.floor(times[::7] / dt) * dt                # events on step boundaries
    times[1::11] = times[::11][:times[1::11].size]             # simultaneous events
    order = np.lexsort((times, ids))
    ids, times = ids[order], times[order]
    strengths = np.where(rng.random(3000) < 0.8, 0.3, -0.2)
    ptr = np.searchsorted(ids, np.arange(n + 1))
    par = _par(65.0, cur_amp=2.0, n=n)
    ctx = (ptr, times, strengths, model, cur_kind, par, False, dt,
           cond_coefs(model, dt / 2, False))
    S, rc, flag = _start(model, n), np.zeros(n), np.zeros(n, np.int8)
    S[0] += rng.uniform(0, 20, n)
    Sv, curv, cur = S.copy(), ptr[:-1].copy(), ptr[:-1].copy()
    scr = (np.empty((8, n)), np.empty(n), np.zeros((3, n)), np.zeros(n, np.int8),
           np.empty(n, np.int64), np.empty((3, n)))
    bt, bi, vt, vi = (np.empty(5000), np.empty(5000, np.int64), np.empty(5000),
                      np.empty(5000, np.int64))
    spikes = vspikes = 0
    for k in range(steps):
        a, b = k * dt, (k + 1) * dt
        nb, _ = evolve_all_scalar(S, rc, flag, cur, a, b, ctx, bt, bi)
        nv, _ = evolve_all(Sv, rc, flag, curv, a, b, ctx, vt, vi, scr)
        assert sorted(zip(bt[:nb], bi[:nb])) == sorted(zip(vt[:nv], vi[:nv]))
        spikes, vspikes = spikes + nb, vspikes + nv
    assert np.array_equal(S, Sv) and np.array_equal(cur, curv)
    assert spikes > 0
