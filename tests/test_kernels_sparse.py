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
