"""Tests of neunet.analysis.summary against hand-computed values and brute-force loops."""
import math

import numpy as np
import pytest

from neunet.analysis import summary
from neunet.result import Result


def _result(spikes, n, t_ms=1000.0, volt=None):
    ras = np.array(sorted(spikes, key=lambda s: s[1]), dtype=float).reshape(-1, 2)
    arrays = {"ras": ras, "isi": np.full(n, np.inf)}
    if volt is not None:
        arrays["volt"] = volt
    return Result.from_arrays(arrays, pm={"t": t_ms, "nE": n, "nI": 0, "stv": 0.5})


def test_regular_train_rate_cv_fano():
    res = _result([(1, 5.0 + 10 * k) for k in range(100)], n=2)
    s = summary.summarize(res)
    assert s["n_spikes"] == 100
    assert s["mean_rate"] == pytest.approx(50.0)  # 100 Hz on one neuron, 0 on the other
    assert s["cv_isi"] == pytest.approx(0.0, abs=1e-12)
    assert s["fano"] == pytest.approx(0.0, abs=1e-12)
    assert math.isnan(s["chi"]) and math.isnan(s["v_mean"])  # no voltage
    pn = summary.per_neuron(res)
    assert list(pn["rate_hz"]) == [100.0, 0.0]
    assert math.isnan(pn["cv_isi"][1]) and math.isnan(pn["fano"][1])


def test_poisson_train_has_cv_and_fano_near_one():
    rng = np.random.default_rng(1)
    spikes = []
    for nid in (1, 2, 3):
        times = np.cumsum(rng.exponential(5.0, size=5000))
        spikes += [(nid, t) for t in times[times < 20000]]
    res = _result(spikes, n=3, t_ms=20000.0)
    assert summary.mean_rate(res) == pytest.approx(200.0, rel=0.05)
    assert summary.cv_isi(res) == pytest.approx(1.0, abs=0.05)
    assert summary.fano(res) == pytest.approx(1.0, abs=0.15)
    assert summary.fano(res, fano_window_ms=50.0) == pytest.approx(1.0, abs=0.15)


def test_cv_and_fano_match_brute_force():
    rng = np.random.default_rng(2)
    n, t_ms = 5, 700.0
    spikes = [(int(rng.integers(1, n + 1)), float(rng.uniform(0, t_ms))) for _ in range(300)]
    res = _result(spikes, n=n, t_ms=t_ms)
    cv = summary.cv_isi_per_neuron(res)
    fano = summary.fano_per_neuron(res, fano_window_ms=100.0)
    for i in range(n):
        times = np.sort([t for nid, t in spikes if nid == i + 1])
        isi = np.diff(times)
        assert cv[i] == pytest.approx(isi.std() / isi.mean())
        counts = np.array([np.sum((times >= 100 * w) & (times < 100 * (w + 1)))
                           for w in range(7)])
        assert fano[i] == pytest.approx(counts.var() / counts.mean())


def test_chi_and_voltage_stats():
    t = np.linspace(0, 20 * np.pi, 2000)
    same = np.tile(np.sin(t), (4, 1))
    res = _result([], n=4, volt=same)
    assert summary.chi(res) == pytest.approx(1.0)
    rng = np.random.default_rng(3)
    noise = rng.normal(size=(400, 4000))
    chi = summary.chi(_result([], n=400, volt=noise))
    assert chi == pytest.approx(1 / math.sqrt(400), rel=0.2)
    volt = np.array([[0.0, 2.0, 0.0, 2.0], [10.0, 10.0, 10.0, 10.0]])
    res = _result([], n=2, volt=volt)
    assert summary.v_mean(res) == pytest.approx(5.5)
    assert summary.v_std(res) == pytest.approx(0.5)
    assert list(summary.per_neuron(res)["v_std"]) == [1.0, 0.0]
    assert math.isnan(summary.chi(_result([], n=1, volt=np.ones((1, 5)))))


def test_silent_network_and_short_run():
    res = _result([], n=3, t_ms=50.0, volt=np.zeros((3, 10)))
    s = summary.summarize(res, stats=["mean_rate", "cv_isi", "fano", "n_spikes"])
    assert s == {"mean_rate": 0.0, "cv_isi": s["cv_isi"], "fano": s["fano"], "n_spikes": 0.0}
    assert math.isnan(s["cv_isi"]) and math.isnan(s["fano"])  # 50 ms < two 100 ms windows


def test_duration_falls_back_to_samples():
    res = Result.from_arrays({"volt": np.zeros((1, 40)), "ras": np.array([[1, 3.0]])},
                             pm={"stv": 0.25})
    assert summary.duration_ms(res) == 10.0
    assert summary.mean_rate(res) == pytest.approx(100.0)


def test_a_shared_basis_gives_the_same_numbers_and_arrays_the_caller_owns():
    rng = np.random.default_rng(4)
    spikes = [(int(rng.integers(1, 4)), float(rng.uniform(0, 500))) for _ in range(80)]
    res = _result(spikes, n=3, t_ms=500.0, volt=rng.normal(size=(3, 200)))
    basis = summary.Basis(res)
    shared = summary.summarize(basis, fano_window_ms=50.0)
    for name, value in summary.summarize(res, fano_window_ms=50.0).items():
        assert shared[name] == value or (math.isnan(value) and math.isnan(shared[name]))
    pn = summary.per_neuron(basis, fano_window_ms=50.0)
    for name, arr in summary.per_neuron(res, fano_window_ms=50.0).items():
        np.testing.assert_array_equal(pn[name], arr)
        pn[name][:] = -1.0  # the caller's to change: the basis keeps its own
    assert summary.cv_isi(basis) == shared["cv_isi"]
    assert summary.fano(basis, fano_window_ms=50.0) == shared["fano"]
    assert summary.v_std(basis) == shared["v_std"]
