"""Tests of neunet.params.hashing: canonical form and the parameter hash (task id)."""
import json
import subprocess
import sys

import numpy as np
from scipy import sparse

from neunet.params import hashing as params_hash
from neunet.params import parameters


def test_canonical_equal_for_equivalent_parameters():
    base = parameters()
    same = [dict(base, t=100), dict(base, stv=base["dt"]), dict(base, pr=[0.1]),
            {k: v for k, v in base.items() if k != "seed"}]
    h = params_hash.param_hash(base)
    assert all(params_hash.param_hash(pm) == h for pm in same)
    assert len(h) == 16
    net = np.array([[0, 1, 0], [2, 0, 0], [0, 1, 5]], dtype=float)
    p3 = dict(base, nE=3, net=net)
    sparse_net = dict(p3, net=sparse.csr_matrix(net))
    assert params_hash.param_hash(p3) == params_hash.param_hash(sparse_net)
    assert params_hash.param_hash(p3) == params_hash.param_hash(dict(p3, net=net.tolist()))
    assert params_hash.param_hash(dict(p3, pr=[0.1, 0.1, 0.1])) == params_hash.param_hash(p3)
    assert params_hash.param_hash(dict(p3, pr=[0.2, 0.0, 0.0])) == params_hash.param_hash(
        dict(p3, pr=[0.2]))
    auto = dict(base, **{"simulation-method": "auto"})
    ssc = dict(base, **{"simulation-method": "SSC"})
    assert params_hash.param_hash(auto) == params_hash.param_hash(ssc)


def test_canonical_differs_when_simulation_differs():
    base = parameters()
    hashes = {params_hash.param_hash(base)}
    for change in ({"t": 100.00000000000001}, {"pr": 0.11}, {"seed": 1}, {"seed": [1, 2]},
                   {"neuron-model": "HH-GH"}, {"reference-quirks": True},
                   {"nE": 2, "pr": [0.1, 0.2]}, {"nE": 2, "pr": [0.2, 0.1]}):
        hashes.add(params_hash.param_hash(dict(base, **change)))
    assert len(hashes) == 9


def test_canonical_is_json_and_hash_is_stable_across_processes():
    pm = dict(parameters(), nE=2, pr=np.array([0.25, 0.5]), net=np.eye(2)[::-1])
    text = params_hash.canonical_json(pm)
    assert json.loads(text)["pr"] == [0.25, 0.5]
    code = ("import numpy as np; from neunet import params; "
            "from neunet.params import hashing as params_hash; "
            "pm = dict(params.parameters(), nE=2, pr=[0.25, 0.5], net=[[0, 1], [1, 0]]); "
            "print(params_hash.param_hash(pm))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={"PYTHONHASHSEED": "123", "PATH": ""})
    assert out.stdout.strip() == params_hash.param_hash(pm)


def test_network_weights_are_part_of_the_task_id():
    """grid over nets that differ only by their weights makes one task per net (the weights
    once left the hash: net=[A, 3*A] made a single task)."""
    from neunet.sweep.tasks import grid

    a = np.array([[0, 1.0, 0], [0.5, 0, 0], [0, 2.0, 0]])
    pm = dict(parameters(), nE=3)
    tasks = grid(pm, net=[a, 3 * a, sparse.csr_matrix(3 * a), (a > 0) * 1.0])
    assert len({t.tid for t in tasks}) == 3  # dense and sparse 3*A are one simulation
    assert params_hash.param_hash(dict(pm, net=a)) != params_hash.param_hash(
        dict(pm, net=a * (1 + 1e-12)))
