"""Tests of neunet.params.argv: parameter mappings -> data files and gen_neu flags."""
import sys

import numpy as np
from scipy import sparse

from neunet.params import argv as params_argv
from neunet.params import parameters
from neunet.sim.options import parse_argv


def _parsed(pm, tmp_path):
    return parse_argv(params_argv.to_argv(pm, tmp_path))


def test_to_argv_parses_into_same_options(tmp_path):
    pm = dict(parameters(), nE=2, nI=1, t=50, dt=0.125, stv=0.5, pr=[0.1, 0.2],
              ps=0.02, pri=0.3, psi=0.01, scee=0.1, seed=[7, 42], **{
                  "t-warming-up": 5.0, "set-threshold": -1.5, "refractory-time": 1.0,
                  "output-first-data-point": True, "reference-quirks": True,
                  "simulation-method": "SSC", "neuron-model": "LIF-GH"})
    o = _parsed(pm, tmp_path)
    assert (o.model, o.method, o.nE, o.nI, o.net) == ("LIF-GH", "SSC", 2, 1, "-")
    assert (o.t_ms, o.dt_ms, o.stv_ms, o.t_warmup_ms) == (50.0, 0.125, 0.5, 5.0)
    assert o.pr == [0.1, 0.2] and o.pri == [0.3] and o.seed == (7, 42)
    assert o.threshold == -1.5 and o.refractory_ms == 1.0 and o.quirks and o.first_row
    ring = _parsed(dict(parameters(), nE=3, net="--"), tmp_path)
    assert ring.net == "--"
    delay = _parsed(dict(parameters(), **{"synaptic-delay": 0.5,
                                          "simulation-method": "auto"}), tmp_path)
    assert delay.method == "big-delay" and delay.delay_ms == 0.5
    exti = _parsed(dict(parameters(), extI=-2.0, **{"neuron-model": "HH-GH-extI"}), tmp_path)
    assert exti.ext_current == -2.0
    nothr = _parsed(dict(parameters(), **{"no-threshold": True}), tmp_path)
    assert nothr.threshold == float("inf")


def test_matrix_net_is_written_by_content_hash(tmp_path):
    dense = np.array([[0, 1, 0], [2, 0, 0], [0, 0.5, 0]])
    pm = dict(parameters(), nE=3, net=dense)
    argv = params_argv.to_argv(pm, tmp_path)
    path = argv[argv.index("--net") + 1]
    assert "--sparse-net" not in argv
    np.testing.assert_array_equal(np.loadtxt(path), dense)
    assert params_argv.to_argv(pm, tmp_path) == argv          # same content, same file
    argv_s = params_argv.to_argv(dict(pm, net=sparse.coo_matrix(dense)), tmp_path)
    assert "--sparse-net" in argv_s
    spath = argv_s[argv_s.index("--net") + 1]
    rows = np.loadtxt(spath, comments=["%", "#"])
    assert sorted(map(tuple, rows.tolist())) == [(1, 2, 1.0), (2, 1, 2.0), (3, 2, 0.5)]
    assert parse_argv(argv_s).sparse_net
    events = np.array([[1, 0.5, 0.1], [1, 2.0, -0.2]])
    argv_e = params_argv.to_argv(dict(pm, **{"input-event-path": events}), tmp_path)
    epath = argv_e[argv_e.index("--input-event-path") + 1]
    np.testing.assert_array_equal(np.loadtxt(epath), events)


def test_sim_command_and_data_dir(tmp_path, monkeypatch):
    cmd = params_argv.sim_command(parameters())
    assert cmd[:3] == [sys.executable, "-m", "neunet.sim"]
    monkeypatch.setenv("NEUNET_DATA_DIR", str(tmp_path / "d"))
    assert params_argv.data_dir() == tmp_path / "d"
    assert params_argv.data_dir(tmp_path / "x") == tmp_path / "x"


def test_per_synapse_and_per_neuron_matrices_reach_the_simulator(tmp_path):
    """Delay, time-constant, constant and forced-spike matrices become data files the
    simulator reads (and a run with them goes through)."""
    from neunet.sim import simulate
    from neunet.sim.models import CONSTANT_DEFAULTS
    net = np.array([[0, 1.0], [1.0, 0]])
    pm = dict(parameters(), nE=2, t=20, net=net, pr=1.0, ps=0.012, **{
        "neuron-model": "LIF-GH", "simulation-method": "big-net-delay",
        "synaptic-net-delay": np.array([[0, 0.5], [0.75, 0]]),
        "tau-g-path": np.tile([0.5, 2.0, 0.8, 5.0], (2, 1)),
        "neuron-const-path": np.tile(CONSTANT_DEFAULTS["LIF-GH"], (2, 1)),
        "force-spike-list": np.array([[1, 5.0], [2, 7.5]])})
    argv = params_argv.to_argv(pm, tmp_path)
    o = parse_argv(argv)
    assert o.method == "big-net-delay" and o.net_delay_path.startswith(str(tmp_path))
    assert np.loadtxt(o.net_delay_path).tolist() == [[0, 0.5], [0.75, 0]]
    assert np.loadtxt(o.force_spike_path).tolist() == [[1, 5.0], [2, 7.5]]
    assert np.loadtxt(o.tau_g_path).shape == (2, 4)
    assert np.loadtxt(o.neuron_const_path).shape == (2, 11)
    assert simulate(argv)["volt"].shape == (2, 640)
