"""Tests of neunet.sim.engine.run on the C++ reference cases and on properties of the methods.

The reference cases (tests/data/reference_cases/*) are parsed by the small helpers below into a
Problem, an in-memory EventSource and a recording Sink, then run through `run` directly.
"""
import json
import math
from pathlib import Path

import numpy as np
import pytest

from neunet.sim.engine import (
    MODELS,
    Problem,
    SimulationError,
    default_state,
    n_state_vars,
    run,
    supported_methods,
)

CASES = Path(__file__).parent / "data" / "reference_cases"
# Cases untouched by any quirk: must match the reference with quirks off as well.
QUIRK_FREE = ["dif_single_gh", "hh_ft_gh_single", "hh_g_single", "hh_gh_exti", "hh_gh_single",
              "hh_pt_gh_single", "lif_g_net20_sparse", "lif_g_single", "lif_gh_net10_delay",
              "lif_gh_net3_ssc", "lif_gh_single"]
# Tolerances of the acceptance criteria (spike ms, array values).
TOL_SPIKE_MS, TOL_ARRAY = 1e-6, 1e-6


class ArrayEvents:
    """EventSource over per-neuron sorted event arrays (all events known up front)."""

    def __init__(self, n, ids, times, strengths):
        self.n = n
        order = np.lexsort((np.arange(len(ids)), ids))   # stable by neuron, file order kept
        self.ids, self.times, self.strengths = ids[order], times[order], strengths[order]
        self.taken = np.zeros(len(ids), bool)

    def take(self, t_ends):
        sel = (~self.taken) & (self.times < t_ends[-1])
        self.taken |= sel
        ptr = np.zeros(self.n + 1, np.int64)
        np.add.at(ptr, self.ids[sel] + 1, 1)
        return np.cumsum(ptr), self.times[sel], self.strengths[sel]


class ListSink:
    """Sink that keeps everything in memory."""

    def __init__(self):
        self.volt, self.cond, self.gate, self.ids, self.times = [], [], [], [], []
        self.progress_ms, self.counts = [], None

    def samples(self, volt, cond, gate):
        self.volt.append(volt.copy())
        if cond is not None:
            self.cond.append(cond.copy())
        if gate is not None:
            self.gate.append(gate.copy())

    def spikes(self, ids, times):
        self.ids.append(np.asarray(ids).copy())
        self.times.append(np.asarray(times).copy())

    def progress(self, t_ms):
        self.progress_ms.append(t_ms)

    def finish(self, spike_counts):
        self.counts = np.asarray(spike_counts).copy()

    def arrays(self):
        cat = lambda xs, w: np.concatenate(xs) if xs else np.zeros((0, w))
        ids = np.concatenate(self.ids) if self.ids else np.zeros(0, np.int64)
        times = np.concatenate(self.times) if self.times else np.zeros(0)
        return cat(self.volt, 0), cat(self.cond, 0), cat(self.gate, 0), ids, times


def csr_from_matrix(A):
    """CSR by presynaptic neuron from a dense A[i][j] (j -> i), diagonal and zeros dropped."""
    A = np.array(A, float)
    np.fill_diagonal(A, 0.0)
    A[~np.isfinite(A)] = 0.0
    post_i, pre_j = np.nonzero(A)
    order = np.lexsort((post_i, pre_j))
    ptr = np.zeros(A.shape[0] + 1, np.int64)
    np.add.at(ptr, pre_j + 1, 1)
    return np.cumsum(ptr), post_i[order].astype(np.int64), A[post_i[order], pre_j[order]]


def read_net(spec, n, sparse):
    """Network matrix of a case: '-' all-to-all, a full text matrix or sparse triplets."""
    if spec == "-":
        return np.ones((n, n))
    if sparse:
        A = np.zeros((n, n))
        for line in Path(spec).read_text().splitlines():
            if line.strip() and line.lstrip()[0] not in "#%":
                i, j, a = line.split()
                A[int(i) - 1, int(j) - 1] += float(a)
        return A
    return np.array(Path(spec).read_text().split(), float)[:n * n].reshape(n, n)


def _opts(args):
    """case.json argument list -> {flag: [values]}."""
    out, key = {}, None
    for a in args:
        if a.startswith("--"):
            key = a[2:]
            out[key] = []
        else:
            out[key].append(a)
    return out


def load_case(name, quirks=True, method=None):
    """Problem, events and the case's options for one reference case folder."""
    d = CASES / name
    case = json.loads((d / "case.json").read_text())
    o = _opts([x.replace("{dir}", str(d)) for x in case["args"]])
    g = lambda k, default=0.0: float(o[k][0]) if k in o else default
    nE, nI = int(g("nE", 1)), int(g("nI", 0))
    n = nE + nI
    ptr, idx, w = csr_from_matrix(read_net(o["net"][0], n, "sparse-net" in o))
    dt, T, stv, tw = g("dt", 1 / 32), g("t", 1000.0), g("stv", g("dt", 1 / 32)), 0.0
    outs = case["outputs"]
    prob = Problem(
        model=o["neuron-model"][0], method=method or o["simulation-method"][0], nE=nE, nI=nI,
        post_ptr=ptr, post_idx=idx, post_w=w, scee=g("scee"), scie=g("scie"), scei=g("scei"),
        scii=g("scii"), dt=dt, t_warmup=tw, n_steps=math.floor((T + tw) / dt),
        steps_per_sample=int(stv / dt + 0.1), T=T, delay=g("synaptic-delay"),
        sine_amp=g("current-sine-amp"), sine_freq=g("current-sine-freq"), ext_current=g("extI"),
        quirks=quirks, record_conductance="conductance" in outs,
        record_ion_gate="ion-gate" in outs)
    ev = np.loadtxt(d / "events.txt", ndmin=2)
    events = ArrayEvents(n, ev[:, 0].astype(np.int64) - 1, ev[:, 1], ev[:, 2])
    return prob, events, case


def ref_spikes(path, n):
    """Per-neuron sorted spike times of a raster file."""
    a = np.loadtxt(path, ndmin=2) if path.stat().st_size else np.zeros((0, 2))
    return [np.sort(a[a[:, 0] == i + 1, 1]) for i in range(n)]


def compare_case(name, quirks=True):
    """Run a case; return (worst spike diff ms, worst array diff, list of problems)."""
    prob, events, case = load_case(name, quirks)
    sink = ListSink()
    run(prob, events, sink)
    volt, cond, gate, ids, times = sink.arrays()
    n, d = case["n"], CASES / name
    worst_t, worst_a, problems = 0.0, 0.0, []
    for i, r in enumerate(ref_spikes(d / case["outputs"]["ras"], n)):
        g = np.sort(times[ids == i])
        if len(g) != len(r):
            problems.append(f"neuron {i + 1}: {len(g)} spikes, reference {len(r)}")
        elif len(r):
            worst_t = max(worst_t, float(np.max(np.abs(g - r))))
    got = {"volt": volt, "conductance": cond, "ion-gate": gate}
    for kind, fn in case["outputs"].items():
        if kind in got:
            ref = np.fromfile(d / fn, "<f8")
            mine = got[kind].ravel()
            if ref.shape != mine.shape:
                problems.append(f"{kind}: {mine.size} values, reference {ref.size}")
            else:
                worst_a = max(worst_a, float(np.max(np.abs(ref - mine))))
        elif kind == "isi":
            ref = np.loadtxt(d / fn, ndmin=1)
            mine = np.where(sink.counts > 0, prob.T / np.maximum(sink.counts, 1), np.inf)
            if not np.allclose(ref, mine, rtol=1e-12):
                problems.append(f"isi {mine} reference {ref}")
    return worst_t, worst_a, problems


@pytest.mark.parametrize("name", sorted(p.name for p in CASES.iterdir()))
def test_reference_case_with_quirks(name):
    worst_t, worst_a, problems = compare_case(name, quirks=True)
    assert not problems
    assert worst_t <= TOL_SPIKE_MS and worst_a <= TOL_ARRAY, (worst_t, worst_a)


@pytest.mark.parametrize("name", QUIRK_FREE)
def test_reference_case_without_quirks(name):
    worst_t, worst_a, problems = compare_case(name, quirks=False)
    assert not problems
    assert worst_t <= TOL_SPIKE_MS and worst_a <= TOL_ARRAY, (worst_t, worst_a)


def _net_problem(model, method, n, T, scee=0.0, A=None, quirks=False, **kw):
    """Problem on network A (default: no edges) with dt 1/32 ms and stv 0.5 ms."""
    ptr, idx, w = csr_from_matrix(np.zeros((n, n)) if A is None else A)
    args = dict(model=model, method=method, nE=n, nI=0, post_ptr=ptr, post_idx=idx, post_w=w,
                scee=scee, scie=scee, scei=0.0, scii=0.0, dt=1 / 32, t_warmup=0.0,
                n_steps=int(T * 32), steps_per_sample=16, T=T, quirks=quirks)
    args.update(kw)
    return Problem(**args)


def poisson_events(n, T, rate, strength, seed=0):
    """Poisson input trains drawn with numpy."""
    rng = np.random.default_rng(seed)
    ids, times = [], []
    for i in range(n):
        t = np.cumsum(rng.exponential(1 / rate, int(rate * T * 1.5) + 20))
        t = t[t < T]
        ids.append(np.full(len(t), i))
        times.append(t)
    ids, times = np.concatenate(ids), np.concatenate(times)
    return ArrayEvents(n, ids.astype(np.int64), times, np.full(len(times), strength))


def _run(prob, events):
    sink = ListSink()
    run(prob, events, sink)
    return sink


@pytest.mark.parametrize("model,ps", [("LIF-GH", 0.012), ("HH-GH", 0.05)])
def test_spike_counts_rise_with_input_rate(model, ps):
    counts = [_run(_net_problem(model, "simple", 4, 300.0), poisson_events(4, 300.0, r, ps))
              .counts.sum() for r in (0.5, 1.0, 2.0)]
    assert counts[0] < counts[1] < counts[2], counts


@pytest.mark.parametrize("model", ["LIF-G", "HH-GH"])
def test_ssc_equals_simple_without_coupling(model):
    ps = 0.02 if model == "LIF-G" else 0.08
    out = {}
    for method in ("simple", "SSC"):
        sink = _run(_net_problem(model, method, 6, 200.0, record_conductance=True),
                    poisson_events(6, 200.0, 2.0, ps))
        out[method] = sink.arrays()
    for a, b in zip(out["simple"], out["SSC"]):
        assert np.array_equal(a, b)
    assert len(out["SSC"][3]) > 10


def test_ssc_with_coupling_moves_partner_at_spike_time():
    """V9: simple kicks at the step end, SSC at the spike time (gE decays from t_s)."""
    A = np.array([[0, 1.0], [0, 0]])
    ev = lambda: ArrayEvents(2, np.array([1]), np.array([1.0]), np.array([2.0]))
    g = {}
    for method in ("simple", "SSC"):
        sink = _run(_net_problem("LIF-G", method, 2, 5.0, scee=0.1, A=A, steps_per_sample=1,
                                 record_conductance=True), ev())
        g[method] = (sink.arrays()[1], sink.arrays()[4][0])
    t_s = g["SSC"][1]
    step_end = math.ceil(t_s * 32) / 32
    row = int(step_end * 32) - 1
    assert g["simple"][0][row, 0] == pytest.approx(0.1, abs=1e-15)
    assert g["SSC"][0][row, 0] == pytest.approx(0.1 * math.exp(-(step_end - t_s) / 2.0), rel=1e-12)


@pytest.mark.parametrize("quirks,weight", [(True, 1.0), (False, 2.5)])
def test_big_delay_weight_quirk(quirks, weight):
    """V11: big-delay delivers sc (quirk) or A*sc after exactly the delay."""
    A = np.array([[0, 2.5], [0, 0]])
    sink = _run(_net_problem("LIF-G", "big-delay", 2, 6.0, scee=0.1, A=A, delay=0.6,
                             steps_per_sample=1, record_conductance=True, quirks=quirks),
                ArrayEvents(2, np.array([1]), np.array([1.0]), np.array([2.0])))
    volt, cond, gate, ids, times = sink.arrays()
    t_s = times[0]
    t = np.arange(1, cond.shape[0] + 1) / 32
    t_next = times[1] if len(times) > 1 else np.inf
    late = (t > t_s + 0.6 + 1 / 32) & (t < t_next + 0.6)
    assert late.sum() > 20
    expect = 0.1 * weight * np.exp(-(t[late] - t_s - 0.6) / 2.0)
    assert np.allclose(cond[late, 0], expect, rtol=1e-12)
    assert np.all(cond[t < t_s + 0.6, 0] == 0.0)


def test_warmup_rows_and_raster_shift():
    """V13: a warmed-up run is the tail of the long run; raster times shifted by t_w."""
    long = _run(_net_problem("LIF-GH", "simple", 3, 25.0), poisson_events(3, 25.0, 3.0, 0.05))
    short = _run(_net_problem("LIF-GH", "simple", 3, 20.0, t_warmup=5.0, n_steps=800,
                              first_row=True), poisson_events(3, 25.0, 3.0, 0.05))
    lv, _, _, lids, lt = long.arrays()
    sv, _, _, sids, st = short.arrays()
    assert np.array_equal(sv[0], np.zeros(3))                 # first row: the t = 0 state
    assert np.array_equal(sv[1:], lv[10:])
    keep = lt > 5.0
    assert np.array_equal(sids, lids[keep]) and np.allclose(st, lt[keep] - 5.0, atol=1e-12)
    assert np.array_equal(short.counts, np.bincount(sids, minlength=3))


def test_multiple_spikes_in_one_dt_raises():
    prob = _net_problem("LIF-G", "simple", 1, 2.0, refractory=0.0)
    with pytest.raises(SimulationError, match="Multiple spikes"):
        _run(prob, ArrayEvents(1, np.array([0]), np.array([0.01]), np.array([80.0])))


def test_threshold_options():
    ev = lambda: poisson_events(2, 100.0, 2.0, 0.05)
    base = _run(_net_problem("HH-GH", "simple", 2, 100.0), ev()).counts.sum()
    none = _run(_net_problem("HH-GH", "simple", 2, 100.0, threshold=math.inf), ev())
    assert base > 0 and none.counts.sum() == 0
    lif = _run(_net_problem("LIF-G", "simple", 2, 100.0, threshold=math.inf),
               poisson_events(2, 100.0, 2.0, 0.05))
    assert lif.arrays()[0].max() > 1.0                       # no reset without threshold


def test_model_tables():
    assert n_state_vars("LIF-G") == 3 and n_state_vars("HH-GH-sine") == 8
    assert n_state_vars("HH-G-extI") == 6 and n_state_vars("DIF-single-GH") == 5
    st = default_state("HH-PT-GH", 2)
    assert st.shape == (2, 8) and st[0, 0] == pytest.approx(2.7756626542950876e-04)
    assert "big-delay" not in supported_methods("DIF-single-GH")
    assert set(supported_methods("HH-GH")) == {"simple", "SSC", "SSC-Sparse", "SSC-Sparse2",
                                                "big-delay", "big-net-delay"}
    assert supported_methods("Hawkes-GH") == ("simple",)
    assert supported_methods("HH-GH-cont-syn") == ("cont-syn",)
    assert set(supported_methods("IF-jump")) == {"IF-jump", "IF-jump-delay"}
    assert len(MODELS) == 16


def test_initial_state_and_progress():
    init = np.tile([0.5, 0.1, 0.0, 0.0, 0.0], (2, 1))
    sink = _run(_net_problem("LIF-GH", "simple", 2, 3.0, initial_state=init, first_row=True,
                             record_conductance=True),
                     ArrayEvents(2, np.zeros(0, np.int64), np.zeros(0), np.zeros(0)))
    volt, cond, _, _, _ = sink.arrays()
    assert np.array_equal(volt[0], [0.5, 0.5]) and np.array_equal(cond[0], [0.1, 0, 0.1, 0])
    assert volt[1, 0] > 0.5                                    # pushed up by gE towards V_E
    assert sink.progress_ms[-1] == pytest.approx(3.0)


def test_lif_wakeup_spike_time_quirk():
    """Section 13: a spike right after waking inside a step is timed from the wake-up point."""
    def spikes(quirks):
        ev = ArrayEvents(1, np.array([0, 0]), np.array([1.0, 2.5]), np.array([20.0, 300.0]))
        return _run(_net_problem("LIF-GH", "simple", 1, 8.0, quirks=quirks), ev).arrays()[4]
    fixed, quirky = spikes(False), spikes(True)
    assert len(fixed) == len(quirky) == 4 and fixed[0] == quirky[0]
    shift = fixed[1:] - quirky[1:]
    assert np.all((shift > 0) & (shift < 1 / 32))
    # Correct timing: the refractory period (2 ms) ends exactly when the next spike's step
    # starts being active, so fixed spikes are >= t_prev + 2 ms; the quirky ones are not.
    assert np.all(np.diff(fixed) > 2.0) and np.any(np.diff(quirky) < 2.0)


def test_hh_pt_sine_quirk():
    """V7: HH-PT-GH-sine ignores the sine under quirks, uses it without."""
    def out(model, quirks):
        ev = ArrayEvents(1, np.array([0, 0]), np.array([1.0, 2.5]), np.array([0.3, 0.3]))
        return _run(_net_problem(model, "simple", 1, 60.0, quirks=quirks, sine_amp=3.0,
                                 sine_freq=0.05), ev).arrays()
    plain, quirky, fixed = out("HH-PT-GH", True), out("HH-PT-GH-sine", True), out("HH-PT-GH-sine",
                                                                                   False)
    assert np.array_equal(plain[0], quirky[0]) and np.array_equal(plain[4], quirky[4])
    assert not np.array_equal(plain[0], fixed[0])


@pytest.mark.parametrize("method", ["simple", "SSC", "big-delay"])
def test_chunking_does_not_change_results(method, monkeypatch):
    """One step per chunk gives bit-identical output to the adaptive chunks."""
    import neunet.sim.engine as engine
    A = (np.random.default_rng(5).random((6, 6)) < 0.4).astype(float)
    make = lambda: _net_problem("LIF-GH", method, 6, 40.0, scee=0.05, A=A, delay=0.4)
    whole = _run(make(), poisson_events(6, 40.0, 3.0, 0.05))
    monkeypatch.setattr(engine, "CHUNK_TARGET_S", 0.0)
    monkeypatch.setattr(engine, "CHUNK_MIN_STEPS", 1)
    monkeypatch.setattr(engine, "ONE_CHUNK_NEURON_STEPS", 0)
    monkeypatch.setattr(engine, "FIRST_CHUNK_STEPS", 1)
    tiny = _run(make(), poisson_events(6, 40.0, 3.0, 0.05))
    assert len(tiny.progress_ms) > 1000 and len(whole.progress_ms) == 1   # small: one chunk
    for a, b in zip(whole.arrays(), tiny.arrays()):
        assert np.array_equal(a, b)
    assert len(whole.arrays()[3]) > 5


def test_cached_kernels_load_without_compile_time_registries():
    """A process that finds the kernels cached loads them without numba's compile-only
    modules (linalg, arraymath), nor the array-allocation code an allocating kernel would
    pull in (arrayobj): start-up cost; and it still simulates correctly."""
    import subprocess
    import sys
    code = ("import sys; from neunet.sim import api; "
            "r = api.simulate(['--neuron-model', 'HH-GH', '--net', '-', '--t', '30', "
            "'--pr', '1', '--ps', '0.05', '--seed', '1']); "
            "print(len(r['ras']), 'numba.np.linalg' in sys.modules, "
            "'numba.np.arrayobj' in sys.modules)")
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True).stdout.split() for _ in range(2)]   # 1st may compile
    assert runs[1] == [runs[0][0], "False", "False"]


def test_delay_queues_grow_without_changing_results(monkeypatch):
    """big-delay queues that start at one slot are enlarged between steps (the kernel stops
    before a step that could overflow them) and give the same output as long queues."""
    A = np.ones((12, 12))
    make = lambda: _net_problem("LIF-GH", "big-delay", 12, 60.0, scee=0.02, A=A, delay=2.0)
    grown = []
    from neunet.sim import engine_network
    original = engine_network.NetworkRunner.grow_queues
    monkeypatch.setattr(engine_network.NetworkRunner, "grow_queues",
                        lambda self: (grown.append(self.q[0].shape[1]), original(self)))
    monkeypatch.setattr(engine_network, "DELAY_QUEUE_START", 1)
    short = _run(make(), poisson_events(12, 60.0, 4.0, 0.05))
    monkeypatch.setattr(engine_network, "DELAY_QUEUE_START", 4096)
    long = _run(make(), poisson_events(12, 60.0, 4.0, 0.05))
    assert grown and grown[0] == 1
    assert len(long.arrays()[3]) > 20
    for a, b in zip(short.arrays(), long.arrays()):
        assert np.array_equal(a, b)


def _chunk_plan_reference(t_ms, first_step, k, problem, post_count):
    """The plan spelled out step by step (slow): flags, counters, rows."""
    t_ends, t = [], t_ms
    for _ in range(k):
        t += problem.dt
        t_ends.append(t)
    after = np.arange(first_step + 1, first_step + k + 1) * problem.dt > problem.t_warmup
    counter = post_count + np.cumsum(after)
    is_row = after & (counter % problem.steps_per_sample == 0)
    rows = np.where(is_row, np.cumsum(is_row) - 1, -1)
    return np.array(t_ends), rows, after, int(counter[-1]), int(is_row.sum())


@pytest.mark.parametrize("seed", range(6))
def test_chunk_plan_matches_step_by_step_plan(seed):
    from neunet.sim.engine import _chunk_plan
    rng = np.random.default_rng(seed)
    dt = float(rng.choice([1 / 32, 0.1, 0.025, 0.3]))
    problem = _net_problem("LIF-GH", "simple", 2, 50.0)
    problem.dt = dt
    problem.t_warmup = float(rng.choice([0.0, 1.0, 7.3, 40.0])) // dt * dt
    problem.steps_per_sample = int(rng.integers(1, 9))
    step, t_ms, post = 0, 0.0, 0
    for k in rng.integers(1, 400, size=8):
        k = int(k)
        got = _chunk_plan(t_ms, step, k, problem, post)
        want = _chunk_plan_reference(t_ms, step, k, problem, post)
        assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
        assert np.array_equal(np.arange(k) >= got[2], want[2])
        assert got[3:] == want[3:]
        step, t_ms, post = step + k, got[0][-1], got[3]
