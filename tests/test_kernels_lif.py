"""The LIF network step (kernels_lif) against the scalar one-neuron-at-a-time path, bit for bit."""
import numpy as np
import pytest

from neunet.sim.kernels_cache import prepare_kernel_loads
from neunet.sim.kernels_fast import evolve_all, evolve_all_scalar
from neunet.sim.kernels_lif import lif_pass
from neunet.sim.kernels_neuron import DIF_GH, LIF_G, LIF_GH, N_PAR, cond_coefs
from neunet.sim.kernels_step import ST_MULTI, quiet

prepare_kernel_loads()   # cached callers of an edited kernels_lif would run the old code
# Time step (ms).
DT = 1 / 32


def _par(n, th=1.0, tref=2.0):
    par = np.zeros(N_PAR)
    par[:6] = [th, tref, 0.0, 0.0, 0.0, n]
    return par


def _state(model, n, rng):
    S = np.zeros((8, n))
    S[0] = rng.uniform(-0.1, 1.0, n)
    S[4:6] = rng.uniform(0, 0.3, (2, n))
    if model != LIF_G:
        S[6:8] = rng.uniform(0, 0.3, (2, n))
    return S


def _events(n, steps, count, rng):
    """CSR input events with some on step boundaries and some simultaneous."""
    ids = rng.integers(0, n, count)
    times = np.sort(rng.uniform(0, steps * DT, count))
    times[::7] = np.floor(times[::7] / DT) * DT
    times[1::11] = times[::11][:times[1::11].size]
    order = np.lexsort((times, ids))
    ids, times = ids[order], times[order]
    strengths = np.where(rng.random(count) < 0.8, 0.25, -0.1)
    return np.searchsorted(ids, np.arange(n + 1)), times, strengths


@pytest.mark.parametrize("model", [LIF_G, LIF_GH, DIF_GH])
@pytest.mark.parametrize("quirks,tref", [(False, 2.0), (True, 0.05), (False, 0.05)])
def test_network_step_equals_scalar_evolution(model, quirks, tref):
    """evolve_all of a LIF network (fused vector pass + rounds through the input events)
    leaves state, refractory clocks, event cursors and spikes bit-identical to evolving
    every neuron alone; 37 neurons: the padded round lists meet the end of the arrays."""
    n, steps = 37, 300
    rng = np.random.default_rng([model, int(quirks), int(100 * tref)])
    ptr, times, strengths = _events(n, steps, 6000, rng)
    par = _par(n, tref=tref)
    ctx = (ptr, times, strengths, model, 0, par, quirks, DT, cond_coefs(model, DT / 2, quirks))
    S = _state(model, n, rng)
    Sv, rc, rcv = S.copy(), np.zeros(n), np.zeros(n)
    flag, cur, curv = np.zeros(n, np.int8), ptr[:-1].copy(), ptr[:-1].copy()
    scr = (np.empty((8, n)), np.empty(n), np.zeros((3, n)), np.zeros(n, np.int8),
           np.empty(n, np.int64), np.empty((3, n)))
    bt, bi, vt, vi = np.empty(500), np.empty(500, np.int64), np.empty(500), np.empty(500, np.int64)
    spikes = refractory = 0
    for k in range(steps):
        a, b = k * DT, (k + 1) * DT
        nb, err = evolve_all_scalar(S, rc, flag, cur, a, b, ctx, bt, bi)
        nv, errv = evolve_all(Sv, rcv, flag, curv, a, b, ctx, vt, vi, scr)
        assert errv == err
        if err:
            assert err == ST_MULTI
            break
        assert sorted(zip(bt[:nb], bi[:nb])) == sorted(zip(vt[:nv], vi[:nv]))
        assert not scr[3].any()                              # marks cleared for the next step
        spikes, refractory = spikes + nb, refractory + int((rc > 0).sum())
    assert np.array_equal(S, Sv) and np.array_equal(rc, rcv) and np.array_equal(cur, curv)
    assert spikes > 20 and refractory > 0


@pytest.mark.parametrize("model", [LIF_G, LIF_GH, DIF_GH])
@pytest.mark.parametrize("th", [1.0, 1.003, np.inf])
@pytest.mark.parametrize("peaks", [False, True])
def test_pass_marks_every_neuron_the_scalar_step_would_treat_specially(model, th, peaks):
    """Unmarked neurons end exactly where a scalar quiet step puts them, with no spike;
    marked ones (input, wake-up, possible spike) are left untouched for the rounds. With
    `peaks`, strong inhibition makes V peak above th inside a step and end below it (the
    spikes lif_candidate's parabola test finds)."""
    n = 2000
    rng = np.random.default_rng(3)
    S = _state(model, n, rng)
    S[0] = rng.uniform(0.97, 1.02, n)                        # around the threshold
    if peaks:
        S[0] = rng.uniform(0.996, 1.0, n)
        S[4:8] = [rng.uniform(0, 5, n), rng.uniform(0, 100, n), rng.uniform(0, 50, n),
                  rng.uniform(0, 500, n)]
    rc = np.where(rng.random(n) < 0.3, rng.uniform(1e-9, 2.0, n), 0.0)
    ptr, times, _ = _events(n, 4, 300, rng)
    par = _par(n, th=th)
    cf, cf_full = cond_coefs(model, DT / 2, False), cond_coefs(model, DT, False)
    mask, a, b = np.zeros(n, np.int8), 2 * DT, 3 * DT
    cur = np.searchsorted(times, a).clip(ptr[:-1], ptr[1:])
    Sv, rcv = S.copy(), rc.copy()
    lif_pass(Sv[0], Sv[4], Sv[5], Sv[6], Sv[7], rcv, cur, ptr, times, mask, model, b, DT,
             th, 2.0, cf, cf_full)
    marked = mask.astype(bool)
    assert 0 < marked.sum() < n
    assert np.array_equal(Sv[:, marked], S[:, marked]) and np.array_equal(rcv[marked],
                                                                          rc[marked])
    spikes = 0
    for i in range(n):
        ts, err = quiet(S, rc, np.zeros(n, np.int8), i, a, DT, model, 0, par, False, DT, cf)
        spikes += ts >= 0
        if not marked[i]:
            assert ts < 0 and not err
            assert not (cur[i] < ptr[i + 1] and times[cur[i]] < b)
    assert np.array_equal(Sv[:, ~marked], S[:, ~marked]) and np.array_equal(rcv[~marked],
                                                                            rc[~marked])
    assert spikes > 0 or th == np.inf
