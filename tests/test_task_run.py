"""One task's run (neunet.sweep.task_run): a filter keeping conductances or gates has them
recorded."""
import numpy as np

from neunet import parameters, simulate
from neunet.analysis import filters
from neunet.sweep.task_run import run_task


def test_kept_extra_outputs_are_recorded():
    pm = dict(parameters(), nE=2, t=20.0, seed=4, pr=1.0, ps=0.05)
    assert filters.recorded_outputs(None) == ("volt", "ras", "isi")
    spec = filters.compile_filter({"keep": ["volt", "conductance", "ion-gate"]})
    assert filters.recorded_outputs(spec) == ("volt", "ras", "isi", "conductance", "ion_gate")
    out = run_task(pm, spec)
    direct = simulate(pm, outputs=("volt", "ras", "isi", "conductance", "ion_gate"))
    for key in ("volt", "conductance", "ion_gate"):
        np.testing.assert_array_equal(out.kept[key], getattr(direct, key))
    assert "ras" not in out.kept
    lif = dict(pm, **{"neuron-model": "LIF-GH"})   # no gates to record: none kept
    assert sorted(k for k in run_task(lif, spec).kept if not k.startswith("pn_")) == [
        "conductance", "volt"]
