"""Tests of neunet.params: defaults, validation messages, canonical form and hash, to_argv."""
import json
import subprocess
import sys

import numpy as np
import pytest
from scipy import sparse

from neunet import params
from neunet.params import ParameterError, parameters, validate
from neunet.sim.options import parse_argv


def test_defaults_cover_seed_keys_and_are_fresh():
    pm = parameters()
    for key in ("neuron-model", "simulation-method", "net", "t", "dt", "stv", "nE", "nI",
                "pr", "ps", "pri", "psi", "scee", "scie", "scei", "scii", "seed",
                "reference-quirks", "t-warming-up", "synaptic-delay", "extI"):
        assert key in pm
    pm["t"] = 5
    assert parameters()["t"] == 100.0
    validate(parameters())


@pytest.mark.parametrize("change, words", [
    ({"scee_mv": 0.1}, ["'scee_mv'", "did you mean 'scee'"]),
    ({"neuron_model": "LIF-G"}, ["did you mean 'neuron-model'"]),
    ({"neuron-model": "HH-PTGH"}, ["'neuron-model'", "did you mean 'HH-PT-GH'"]),
    ({"neuron-model": "IF-jump"}, ["not supported by neunet"]),
    ({"simulation-method": "ssc"}, ["did you mean 'SSC'"]),
    ({"simulation-method": "SSC-Sparse"}, ["not supported by neunet"]),
    ({"t": -1}, ["'t'", "> 0"]),
    ({"t": "100"}, ["'t'", "expected a number"]),
    ({"dt": 0.1, "stv": 0.3, "t": 10}, ["'stv'", "multiple of dt"]),
    ({"stv": 0.01}, ["'stv'", ">= dt"]),
    ({"t": 1, "stv": 2.0}, ["'stv'", "<= t"]),
    ({"nE": 0, "nI": 0}, ["nE + nI"]),
    ({"nE": 1.5}, ["'nE'", "whole number"]),
    ({"pr": -0.1}, ["'pr'", ">= 0"]),
    ({"pr": [0.1, 0.2, 0.3]}, ["'pr'", "3 values", "1 neurons"]),
    ({"ps": "x"}, ["'ps'"]),
    ({"seed": -3}, ["'seed'"]),
    ({"seed": "abc"}, ["'seed'"]),
    ({"net": "/no/such/net.txt"}, ["'net'", "file not found"]),
    ({"nE": 2, "net": [[0, 1, 2], [0, 0, 1]]}, ["'net'", "expected 2x2"]),
    ({"nE": 2, "net": [[0, np.nan], [0, 0]]}, ["'net'", "non-finite"]),
    ({"neuron-model": "HH-GH-extI"}, ["'extI'"]),
    ({"synaptic-delay": 0.01}, ["'synaptic-delay'", "> dt"]),
    ({"synaptic-delay": 1.0}, ["'synaptic-delay'", "big-delay"]),
    ({"simulation-method": "big-delay"}, ["needs 'synaptic-delay'"]),
    ({"no-threshold": 1}, ["'no-threshold'", "True or False"]),
    ({"tau-g-path": "x"}, ["'tau-g-path'", "not supported"]),
    ({"initial-state-path": np.zeros((1, 3))}, ["'initial-state-path'", "1x8"]),
])
def test_validation_names_key_and_problem(change, words):
    pm = parameters()
    pm.update(change)
    with pytest.raises(ParameterError) as info:
        validate(pm)
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_validate_normalizes_and_accepts_forms():
    pm = dict(parameters(), nE=2, nI=1, t=10, pr=np.array([0.5, 0.2]), seed=np.int64(3),
              net=np.ones((3, 3)))
    v = validate(pm)
    assert v["t"] == 10.0 and isinstance(v["t"], float)
    assert v["pr"] == [0.5, 0.2] and v["seed"] == [3]
    assert v["stv"] == v["dt"]
    assert isinstance(v["net"], np.ndarray)
    v = validate(dict(pm, net=sparse.random(3, 3, density=0.5, format="csr", random_state=1)))
    assert sparse.issparse(v["net"])


def test_canonical_equal_for_equivalent_parameters():
    base = parameters()
    same = [dict(base, t=100), dict(base, stv=base["dt"]), dict(base, pr=[0.1]),
            {k: v for k, v in base.items() if k != "seed"}]
    h = params.param_hash(base)
    assert all(params.param_hash(pm) == h for pm in same)
    assert len(h) == 16
    net = np.array([[0, 1, 0], [2, 0, 0], [0, 1, 5]], dtype=float)
    p3 = dict(base, nE=3, net=net)
    assert params.param_hash(p3) == params.param_hash(dict(p3, net=sparse.csr_matrix(net)))
    assert params.param_hash(p3) == params.param_hash(dict(p3, net=net.tolist()))
    assert params.param_hash(dict(p3, pr=[0.1, 0.1, 0.1])) == params.param_hash(p3)
    assert params.param_hash(dict(p3, pr=[0.2, 0.0, 0.0])) == params.param_hash(
        dict(p3, pr=[0.2]))
    auto = dict(base, **{"simulation-method": "auto"})
    assert params.param_hash(auto) == params.param_hash(dict(base, **{"simulation-method": "SSC"}))


def test_canonical_differs_when_simulation_differs():
    base = parameters()
    hashes = {params.param_hash(base)}
    for change in ({"t": 100.00000000000001}, {"pr": 0.11}, {"seed": 1}, {"seed": [1, 2]},
                   {"neuron-model": "HH-GH"}, {"reference-quirks": True},
                   {"nE": 2, "pr": [0.1, 0.2]}, {"nE": 2, "pr": [0.2, 0.1]}):
        hashes.add(params.param_hash(dict(base, **change)))
    assert len(hashes) == 9


def test_canonical_is_json_and_hash_is_stable_across_processes():
    pm = dict(parameters(), nE=2, pr=np.array([0.25, 0.5]), net=np.eye(2)[::-1])
    text = params.canonical_json(pm)
    assert json.loads(text)["pr"] == [0.25, 0.5]
    code = ("import numpy as np; from neunet import params; "
            "pm = dict(params.parameters(), nE=2, pr=[0.25, 0.5], net=[[0, 1], [1, 0]]); "
            "print(params.param_hash(pm))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={"PYTHONHASHSEED": "123", "PATH": ""})
    assert out.stdout.strip() == params.param_hash(pm)


def test_plain_roundtrips_through_json():
    net = sparse.csr_matrix(np.array([[0, 1.5], [0.25, 0]]))
    pm = dict(parameters(), nE=2, net=net, pr=np.array([0.1, 0.2]), t=np.float64(10))
    back = json.loads(json.dumps(params.plain(pm)))
    assert params.param_hash(back) == params.param_hash(pm)


def _parsed(pm, tmp_path):
    return parse_argv(params.to_argv(pm, tmp_path))


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
    argv = params.to_argv(pm, tmp_path)
    path = argv[argv.index("--net") + 1]
    assert "--sparse-net" not in argv
    np.testing.assert_array_equal(np.loadtxt(path), dense)
    assert params.to_argv(pm, tmp_path) == argv          # same content, same file
    argv_s = params.to_argv(dict(pm, net=sparse.coo_matrix(dense)), tmp_path)
    assert "--sparse-net" in argv_s
    spath = argv_s[argv_s.index("--net") + 1]
    rows = np.loadtxt(spath, comments=["%", "#"])
    assert sorted(map(tuple, rows.tolist())) == [(1, 2, 1.0), (2, 1, 2.0), (3, 2, 0.5)]
    assert parse_argv(argv_s).sparse_net
    events = np.array([[1, 0.5, 0.1], [1, 2.0, -0.2]])
    argv_e = params.to_argv(dict(pm, **{"input-event-path": events}), tmp_path)
    epath = argv_e[argv_e.index("--input-event-path") + 1]
    np.testing.assert_array_equal(np.loadtxt(epath), events)


def test_sim_command_and_data_dir(tmp_path, monkeypatch):
    cmd = params.sim_command(parameters())
    assert cmd[:3] == [sys.executable, "-m", "neunet.sim"]
    monkeypatch.setenv("NEUNET_DATA_DIR", str(tmp_path / "d"))
    assert params.data_dir() == tmp_path / "d"
    assert params.data_dir(tmp_path / "x") == tmp_path / "x"


def test_plain_is_msgpack_safe_for_nested_numpy_values():
    import msgpack
    pm = dict(parameters(), nE=2, net=[[np.float64(0), np.int64(1)], [np.float32(0.5), 0]],
              seed=(np.uint32(4), 5), pr=[np.float64(0.1), np.float64(0.2)])
    back = msgpack.unpackb(msgpack.packb(params.plain(pm)))
    assert back["seed"] == [4, 5] and back["net"] == [[0.0, 1], [0.5, 0]]
    assert params.param_hash(back) == params.param_hash(pm)
