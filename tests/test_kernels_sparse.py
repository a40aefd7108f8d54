"""SSC-Sparse and SSC-Sparse2 (spec 9.3, 9.4): spike order of the exact methods, roll-back of
the affected neurons only, and their quiet-step counts."""
import re
import subprocess
import sys

import numpy as np
import pytest

from neunet.sim import simulate

# A 5-neuron E/I LIF-GH net with strong coupling, driven hard: many spikes interact.
BASE = ["--neuron-model", "LIF-GH", "--nE", "4", "--nI", "1", "--seed", "3",
        "--pr", "3", "--ps", "0.02", "--scee", "0.15", "--scie", "0.1", "--scei", "0.2",
        "--scii", "0.1", "--stv", "0.25"]
# Time step (ms) of the kernel tests.
DT = 1 / 32


def _net(tmp_path):
    a = np.array([[0, 1, 1, 0, 1], [1, 0, 0, 1, 1], [0, 1, 0, 1, 1], [1, 1, 1, 0, 1],
                  [1, 1, 0, 1, 0]], float)
    np.savetxt(tmp_path / "net.txt", a)
    return ["--net", str(tmp_path / "net.txt")]


@pytest.mark.parametrize("method", ["SSC-Sparse", "SSC-Sparse2"])
def test_sparse_methods_agree_with_ssc(tmp_path, method):
    """All SSC variants place synaptic kicks at the spike times; they differ only by the
    round-off of where they split the steps (chaos amplifies it, to ~1e-8 here)."""
    ssc = simulate(BASE + _net(tmp_path) + ["--t", "60", "--simulation-method", "SSC",
                                            "--reference-quirks"])
    other = simulate(BASE + _net(tmp_path) + ["--t", "60", "--simulation-method", method])
    assert ssc["ras"].shape == other["ras"].shape and ssc["ras"].shape[0] > 30
    assert np.max(np.abs(ssc["ras"] - other["ras"])) < 1e-6
    assert np.max(np.abs(ssc["volt"] - other["volt"])) < 1e-6
    simple = simulate(BASE + _net(tmp_path) + ["--t", "60", "--simulation-method", "simple"])
    assert np.max(np.abs(simple["volt"] - other["volt"])) > 1e-3     # simple kicks late


def _quiet_steps(args):
    r = subprocess.run([sys.executable, "-m", "neunet.sim", *args, "--verbose-echo"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return int(re.search(r"# of calls to NoInteractDt\(\): (\d+)", r.stdout).group(1))


def test_sparse_methods_re_integrate_fewer_neurons(tmp_path):
    """Quiet steps: simple < SSC-Sparse2 <= SSC-Sparse < SSC (whole-network roll-backs)."""
    ring = BASE + ["--net", "--", "--t", "200"]
    counts = {m: _quiet_steps(ring + ["--simulation-method", m, "--reference-quirks"])
              for m in ("simple", "SSC", "SSC-Sparse", "SSC-Sparse2")}
    assert counts["simple"] == 5 * 6400 + _events(ring)
    assert counts["simple"] < counts["SSC-Sparse2"] <= counts["SSC-Sparse"] < counts["SSC"]


def _events(args):
    """Input events of a run (its Poisson output)."""
    return simulate(args, outputs=("poisson",))["poisson"].shape[0]


def _lif_setup(model, quirks, tref, rng, n=37, steps=40):
    """A LIF network's state near threshold (some neurons refractory), its input events
    (CSR, some simultaneous or on step boundaries) and the kernels' context."""
    from neunet.sim.kernels_neuron import N_PAR, cond_coefs
    count = 40 * n
    ids = rng.integers(0, n, count)
    times = np.sort(rng.uniform(0, steps * DT, count))
    times[::7] = np.floor(times[::7] / DT) * DT
    times[1::11] = times[::11][:times[1::11].size]
    order = np.lexsort((times, ids))
    ptr = np.searchsorted(ids[order], np.arange(n + 1))
    strengths = np.where(rng.random(count) < 0.8, 0.25, -0.1)
    par = np.zeros(N_PAR)
    par[:6] = [1.0, tref, 0.0, 0.0, 0.0, n]
    ctx = (ptr, times[order], strengths, model, 0, par, quirks, DT,
           cond_coefs(model, DT / 2, quirks))
    S = np.zeros((8, n))
    S[0] = rng.uniform(0.9, 1.0, n)
    S[4:8] = rng.uniform(0, 0.3, (4, n))
    rc = np.where(rng.random(n) < 0.3, rng.uniform(1e-9, tref, n), 0.0)
    return S, rc, ctx


@pytest.mark.parametrize("model", [0, 1, 2])           # LIF-G, LIF-GH, DIF-single-GH
@pytest.mark.parametrize("quirks,tref", [(False, 2.0), (True, 0.05), (False, 0.05)])
def test_affected_lif_neurons_re_evolve_together_bit_for_bit(model, quirks, tref):
    """_evolve_list's vectorized rounds (a homogeneous LIF net, each neuron listed once)
    leave state, clocks, event cursors, quiet-step count and the set of spikes exactly as
    evolving the listed neurons one at a time from their own backup times."""
    from neunet.sim.kernels_cache import prepare_kernel_loads
    from neunet.sim.kernels_neuron import P_QC
    from neunet.sim.kernels_sparse import _evolve_list
    prepare_kernel_loads()
    rng = np.random.default_rng([model, int(quirks), int(100 * tref)])
    spikes = 0
    for trial in range(80):
        S, rc, ctx = _lif_setup(model, quirks, tref, rng)
        n, ptr, times = S.shape[1], ctx[0], ctx[1]
        m = int(rng.integers(1, n + 1))
        ids = rng.permutation(n)[:m]
        t0 = (trial % 38) * DT
        b_time = t0 + rng.choice([0.0, 0.3 * DT, 0.5 * DT], n)    # <= b, as tH never decreases
        b = t0 + DT * rng.choice([0.5, 0.9, 1.0])
        cur = np.array([ptr[i] + np.searchsorted(times[ptr[i]:ptr[i + 1]], b_time[i])
                        for i in range(n)])
        got, want = [], []
        for once, out in ((True, got), (False, want)):
            St, rct, curt, par = S.copy(), rc.copy(), cur.copy(), ctx[5].copy()
            scr = (np.empty((8, n)), np.empty(n), np.zeros((3, n)), np.zeros(n, np.int8),
                   np.empty(n, np.int64), np.empty((3, n)))
            bt, bi = np.empty(4 * n), np.empty(4 * n, np.int64)
            nb, err = _evolve_list(St, rct, np.zeros(n, np.int8), curt, ids, m, once,
                                   b_time, b, (*ctx[:5], par, *ctx[6:]), bt, bi, 0, scr)
            out.append((St, rct, curt, par[P_QC], err, sorted(zip(bt[:nb], bi[:nb]))))
        (S1, rc1, cur1, qc1, err1, sp1), (S2, rc2, cur2, qc2, err2, sp2) = got[0], want[0]
        assert err1 == err2
        if err1:
            continue
        assert np.array_equal(S1, S2) and np.array_equal(rc1, rc2)
        assert np.array_equal(cur1, cur2) and qc1 == qc2 and sp1 == sp2
        spikes += len(sp1)
    assert spikes > 20


def test_a_neuron_listed_twice_is_seen():
    """A self-connection (or a repeated edge) lists a neuron twice among the affected ones:
    those lists take the one-at-a-time path, in the reference's order."""
    from neunet.sim.kernels_sparse import _affected
    post_ptr, post_idx = np.array([0, 2, 4, 5]), np.array([1, 2, 0, 1, 2])
    net = (3, post_ptr, post_idx, np.ones(5), np.ones(4))
    for j, with_self, listed, twice in ((0, True, [1, 2, 0], False), (1, True, [0, 1, 1], True),
                                        (2, False, [2], False), (2, True, [2, 2], True)):
        ids, aff = np.empty(4, np.int64), np.zeros(3, np.int8)
        m, seen = _affected(j, with_self, net, ids, aff)
        assert list(ids[:m]) == listed and seen == twice and aff[listed].all()
