"""Quiet steps with per-neuron constants (heterogeneous networks), forced resets, and the
ordered queue of big-net-delay."""
import numpy as np
import pytest

from neunet.sim import simulate
from neunet.sim.kernels_delay import ROW_SPAN, queue_spikes
from neunet.sim.models import CONSTANT_DEFAULTS, HETEROGENEOUS

# Inputs driving a 6-neuron E/I network with inhibition (the HH kappa quirk matters).
INPUT = {"LIF-GH": ["--pr", "2", "--ps", "0.025", "--pri", "0.5", "--psi", "0.01"],
         "DIF-single-GH": ["--pr", "2", "--ps", "0.025", "--pri", "0.5", "--psi", "0.01"],
         "HH-GH": ["--pr", "1.5", "--ps", "0.06", "--pri", "0.3", "--psi", "0.03"]}


def _args(model, method, extra=()):
    return ["--neuron-model", model, "--net", "-", "--nE", "4", "--nI", "2", "--t", "100",
            "--seed", "2", "--scee", "0.02", "--scie", "0.02", "--scei", "0.03",
            "--scii", "0.03", "--simulation-method", method, *INPUT[model], *extra]


@pytest.mark.parametrize("model, method, quirks", [
    ("LIF-GH", "SSC", False), ("DIF-single-GH", "simple", False), ("HH-GH", "simple", True),
    ("HH-GH", "SSC-Sparse", False)])
def test_default_constants_per_neuron_change_nothing(tmp_path, model, method, quirks):
    """A --neuron-const-path file holding the default constants gives byte-identical output
    (the per-neuron path does the same arithmetic as the vectorized one)."""
    path = tmp_path / "c.txt"
    np.savetxt(path, np.tile(CONSTANT_DEFAULTS[model], (6, 1)), fmt="%.17g")
    q = ["--reference-quirks"] if quirks else []
    same = simulate(_args(model, method, q), outputs=("volt", "ras", "conductance"))
    het = simulate(_args(model, method, q + ["--neuron-const-path", str(path)]),
                   outputs=("volt", "ras", "conductance"))
    assert same["ras"].shape[0] > 5
    for key in same:
        assert np.array_equal(same[key], het[key]), key


def test_per_neuron_threshold_and_time_constants(tmp_path):
    names = HETEROGENEOUS["LIF-GH"]
    consts = np.tile(CONSTANT_DEFAULTS["LIF-GH"], (6, 1))
    consts[0, names.index("V_threshold")] = 5.0                   # neuron 1 cannot fire
    np.savetxt(tmp_path / "c.txt", consts)
    out = simulate(_args("LIF-GH", "SSC", ["--neuron-const-path", str(tmp_path / "c.txt")]))
    fired = set(out["ras"][:, 0].astype(int))
    assert 1 not in fired and len(fired) >= 3
    over = simulate(_args("LIF-GH", "SSC", ["--neuron-const-path", str(tmp_path / "c.txt"),
                                            "--set-threshold", "1"]))
    assert 1 in set(over["ras"][:, 0].astype(int))              # --set-threshold applies
    quirky = simulate(_args("LIF-GH", "SSC", ["--neuron-const-path", str(tmp_path / "c.txt"),
                                              "--set-threshold", "1", "--reference-quirks"]))
    assert 1 not in set(quirky["ras"][:, 0].astype(int))        # ... but not in gen_neu
    np.savetxt(tmp_path / "t.txt", np.tile([0.5, 4.0, 0.8, 5.0], (6, 1)))   # slower gE
    slow = simulate(_args("LIF-GH", "SSC", ["--tau-g-path", str(tmp_path / "t.txt")]),
                    outputs=("conductance",))["conductance"]
    base = simulate(_args("LIF-GH", "SSC"), outputs=("conductance",))["conductance"]
    assert slow[:, 0].mean() > 1.5 * base[:, 0].mean()


def test_forced_reset_clamps_a_lif_neuron(tmp_path):
    (tmp_path / "f.txt").write_text("1 10.01\n")
    args = ["--neuron-model", "LIF-G", "--net", "-", "--t", "20", "--dt", "0.125",
            "--stv", "0.125", "--pr", "4", "--ps", "0.001", "--seed", "1"]
    free = simulate(args)["volt"][0]
    forced = simulate(args + ["--force-spike-list", str(tmp_path / "f.txt")])["volt"][0]
    k = int(10.0 / 0.125)                    # the reset happens at the start of step k
    assert np.array_equal(free[:k], forced[:k]) and free[k] > 0
    assert np.all(forced[k:k + 15] == 0.0) and forced[k + 17] > 0     # refractory 2 ms


def test_net_delay_queue_stays_in_time_then_neuron_order():
    """Kicks reach a neuron's queue out of order; they are inserted by (time, pre neuron)."""
    n = 3
    net = (3, np.array([0, 1, 2, 2]), np.array([2, 2]), np.array([1.0, 1.0]),
           np.array([0.5, 0.5, 0.5, 0.5]))
    delays = np.array([3.0, 1.0])                      # 0 -> 2 after 3 ms, 1 -> 2 after 1 ms
    q = (np.zeros((n, 4)), np.zeros((n, 4)), np.zeros((n, 4), np.int64),
         np.zeros(n, np.int64), np.zeros(n, np.int64))
    for pre, t in ((0, 0.0), (1, 0.5), (1, 2.0)):      # arrivals at 3.0, 1.5, 3.0
        queue_spikes(np.array([t]), np.array([pre]), 1, net, delays, True, True, 1, q)
    assert q[4][2] == 3 and q[0][2, :3].tolist() == [1.5, 3.0, 3.0]
    assert (q[2][2, :3] // ROW_SPAN).tolist() == [1, 0, 1]
