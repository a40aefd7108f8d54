"""Tests of kernels_single.hh_single, the register-state loop of a lone HH neuron.

A lone neuron run with the simple method goes through hh_single; with SSC it goes through
the general network path (kernels_methods / kernels_fast). Both inline the same arithmetic,
so every output must agree bit for bit, including runs whose raster arrays fill up
mid-chunk (the kernel stops, the engine enlarges them and the chunk resumes).
"""
import numpy as np
import pytest

from neunet.sim.api import simulate

# Outputs compared between the two paths.
OUTPUTS = ("volt", "ras", "isi", "conductance", "ion_gate")


def _both_paths(args, monkeypatch=None):
    base = ["--nE", "1", "--net", "-", "--dt", "0.03125", "--stv", "0.25", *args]
    single = simulate(base + ["--simulation-method", "simple"], OUTPUTS)
    general = simulate(base + ["--simulation-method", "SSC"], OUTPUTS)
    return single, general


def _assert_identical(a, b):
    for key in OUTPUTS:
        assert a[key].shape == b[key].shape, key
        assert np.array_equal(a[key], b[key]), key


@pytest.mark.parametrize("model, extra", [
    ("HH-GH", ["--pr", "1.5", "--ps", "0.05", "--pri", "0.5", "--psi", "0.02"]),
    ("HH-G", ["--pr", "1", "--ps", "0.08"]),
    ("HH-PT-GH", ["--pr", "1", "--ps", "0.05"]),
    ("HH-FT-GH", ["--pr", "1", "--ps", "0.05", "--output-first-data-point"]),
    ("HH-GH-sine", ["--pr", "0.5", "--ps", "0.03", "--current-sine-amp", "6",
                    "--current-sine-freq", "0.05"]),
])
def test_lone_neuron_matches_the_network_path(model, extra):
    single, general = _both_paths(["--neuron-model", model, "--t", "300", "--seed", "3",
                                   *extra])
    _assert_identical(single, general)
    assert len(single["ras"]) >= 3


def test_raster_arrays_fill_and_the_chunk_resumes(monkeypatch):
    """A constant current fires ~70 spikes/s with no input events: the raster arrays
    (sized from the chunk's events) fill many times within a chunk."""
    grown = []
    from neunet.sim.engine_network import Runner
    original = Runner.grow_out
    monkeypatch.setattr(Runner, "grow_out", lambda self, n_out, need=0: (
        grown.append(n_out), original(self, n_out, need)))
    single, general = _both_paths(["--neuron-model", "HH-GH-extI", "--extI", "20",
                                   "--t", "3000", "--pr", "0", "--ps", "0"])
    _assert_identical(single, general)
    assert len(single["ras"]) > 100 and len(grown) >= 4
