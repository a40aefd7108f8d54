"""The function a Dask worker runs for one task, called directly (no Dask needed)."""
import json

import numpy as np

from neunet import parameters, params, simulate
from neunet.analysis import filters
from neunet.runner.dask.task import run_task
from neunet.store.npz import decode_arrays


def tiny_pm():
    pm = parameters()
    pm.update({"neuron-model": "LIF-GH", "nE": 1, "nI": 0, "t": 20.0, "pr": 1.0, "ps": 0.04,
               "seed": 3})
    return pm


def test_json_arguments_give_the_simulation_filtered_and_encoded():
    pm = tiny_pm()
    spec = filters.compile_filter({"keep": ["ras", "volt"], "downsample": 4})
    out = run_task(json.dumps(params.plain(pm)), json.dumps(spec), "tid0")
    summary, kept = filters.apply_filter(spec, simulate(pm), pm)
    assert out["summary"] == summary
    assert all(type(v) is float for v in out["summary"].values())
    stored = decode_arrays(out["data"])
    assert sorted(stored) == sorted(kept)
    for key in kept:
        np.testing.assert_array_equal(stored[key], kept[key])
    assert out["real_s"] > 0 and out["worker"].startswith("local:")


def test_dropped_data_travels_as_none():
    pm = tiny_pm()
    spec = filters.compile_filter({"keep_if": "n_spikes < 0"})
    out = run_task(pm, spec, "tid0", report_states=False)
    assert out["data"] is None
    assert out["summary"]["n_spikes"] >= 0
