"""Tests of neunet.params: defaults, validation messages, the plain (JSON/msgpack) form."""
import json

import numpy as np
import pytest
from scipy import sparse

from neunet import params
from neunet.params import ParameterError, parameters, validate
from neunet.params.hashing import param_hash


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
    ({"neuron-model": "IF-jmp"}, ["did you mean 'IF-jump'"]),
    ({"simulation-method": "ssc"}, ["did you mean 'SSC'"]),
    ({"simulation-method": "SSC-Sparse3"}, ["did you mean 'SSC-Sparse"]),
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
    ({"tau-g-path": "x"}, ["'tau-g-path'", "file not found"]),
    ({"tau-g-path": np.ones((2, 4))}, ["'tau-g-path'", "expected 1x4"]),
    ({"neuron-model": "HH-GH", "neuron-const-path": np.ones((1, 12))},
     ["'neuron-const-path'", "expected 1x13"]),
    ({"force-spike-list": np.ones((3, 3))}, ["'force-spike-list'", "2 columns"]),
    ({"nE": 2, "synaptic-net-delay": np.ones((2, 3))}, ["'synaptic-net-delay'", "2x2"]),
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


def test_plain_roundtrips_through_json():
    net = sparse.csr_matrix(np.array([[0, 1.5], [0.25, 0]]))
    pm = dict(parameters(), nE=2, net=net, pr=np.array([0.1, 0.2]), t=np.float64(10))
    back = json.loads(json.dumps(params.plain(pm)))
    assert param_hash(back) == param_hash(pm)


def test_plain_is_msgpack_safe_for_nested_numpy_values():
    import msgpack
    pm = dict(parameters(), nE=2, net=[[np.float64(0), np.int64(1)], [np.float32(0.5), 0]],
              seed=(np.uint32(4), 5), pr=[np.float64(0.1), np.float64(0.2)])
    back = msgpack.unpackb(msgpack.packb(params.plain(pm)))
    assert back["seed"] == [4, 5] and back["net"] == [[0.0, 1], [0.5, 0]]
    assert param_hash(back) == param_hash(pm)
