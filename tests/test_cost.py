"""neunet.sweep.cost: the spec's cost formula, net density, firing-rate guess, shipped constants."""
import numpy as np
import pytest

from neunet import parameters, time_cost
from neunet.sweep import cost


def test_time_cost_follows_the_spec_formula():
    pm = dict(parameters(), **{"neuron-model": "LIF-GH", "simulation-method": "simple"},
              nE=10, t=1000.0, pr=2.0, ps=0.0)
    q, seconds = time_cost(pm)
    assert q == pytest.approx(1000 * 10 * (32 + 2))        # T n (1/dt + r), no firing
    assert seconds > 0
    q_ssc, s_ssc = time_cost(dict(pm, ps=0.05, **{"simulation-method": "SSC"}))
    q_simple, s_simple = time_cost(dict(pm, ps=0.05))
    assert q_ssc > q_simple and s_ssc > s_simple           # SSC adds replays when firing
    assert time_cost(dict(pm, nE=100))[1] > 5 * seconds     # grows with n
    assert time_cost(dict(pm, t=10000.0))[1] > 5 * seconds  # grows with t
    hh = dict(pm, **{"neuron-model": "HH-GH"})
    assert time_cost(hh)[1] > seconds                        # HH costs more per step
    f = cost.firing_guess
    from neunet.params import validate
    assert f(validate(dict(pm, ps=0.0))) == 0.0
    assert f(validate(dict(pm, ps=0.1))) > f(validate(dict(pm, ps=0.01)))


def test_density_of_nets(tmp_path):
    path = tmp_path / "net.txt"
    path.write_text("0 1 1\n0 0 0\n1 0 0\n")
    assert cost.density(str(path), 3) == pytest.approx(3 / 6)
    assert cost.density("-", 3) == 1.0
    assert cost.density("--", 5) == pytest.approx(1 / 4)
    assert cost.density(np.eye(3), 3) == 0.0
    triplets = tmp_path / "net.sparse.txt"
    triplets.write_text("% sparse\n1 2 1.0\n2 1 0.5\n3 3 1.0\n")
    assert cost.density(str(triplets), 3, sparse_file=True) == pytest.approx(2 / 6)


def test_shipped_cost_constants_cover_every_model():
    from neunet.params import MODELS
    from neunet.sweep import cost_constants as cc
    assert set(cc.SECONDS_PER_STEP) == set(MODELS)
    assert {m.cost_base for m in MODELS.values()} <= set(cc.TAU_PRODUCT) == set(cc.RATE_CURVE)
    assert set(cc.COEFFS) == {"ssc_grid", "delay_grid", "event", "ssc", "delay", "step",
                              "syn", "sample", "fixed"}
    assert all(type(v) is float and v > 0 for v in cc.SECONDS_PER_STEP.values())
    for curve in cc.RATE_CURVE.values():
        assert len(curve["drive"]) == len(curve["rate"])
        assert curve["rate"] == sorted(curve["rate"]) and curve["drive"] == sorted(curve["drive"])


def test_firing_guess_counts_recurrent_excitation():
    from neunet.params import validate
    pm = dict(parameters(), **{"neuron-model": "LIF-GH"}, nE=100, pr=1.0, ps=0.02)
    quiet = cost.firing_guess(validate(dict(pm, scee=0.0)))
    excited = cost.firing_guess(validate(dict(pm, scee=0.01)))
    inhibited = cost.firing_guess(validate(dict(pm, scee=0.0, nE=80, nI=20, scei=0.05)))
    assert inhibited < quiet < excited
