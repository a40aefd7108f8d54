"""What each parameter means (neunet.params.docs), and parameters() agreeing with the simulator."""
import numpy as np
import pytest

from neunet import describe, parameters, simulate
from neunet.params import ParameterError
from neunet.params.argv import to_argv
from neunet.params.docs import PARAMETER_DOCS
from neunet.sim.options import parse_argv

# parameters() keys the simulator has a default for -> the SimOptions field holding it.
SIM_DEFAULTS = {"scee": "scee", "scie": "scie", "scei": "scei", "scii": "scii",
                "dt": "dt_ms", "t-warming-up": "t_warmup_ms", "nE": "nE", "nI": "nI",
                "current-sine-amp": "sine_amp", "current-sine-freq": "sine_freq_khz",
                "extI": "ext_current", "synaptic-delay": "delay_ms",
                "refractory-time": "refractory_ms", "set-threshold": "threshold",
                "sparse-net": "sparse_net", "output-first-data-point": "first_row",
                "reference-quirks": "quirks", "initial-state-path": "initial_state_path",
                "input-event-path": "input_event_path"}


def test_defaults_are_the_simulators():
    opts = parse_argv(["--neuron-model", "HH-PT-GH", "--net", "-"])
    pm = parameters()
    for key, field in SIM_DEFAULTS.items():
        assert pm[key] == getattr(opts, field), key
    assert [pm[k] for k in ("pri", "psi")] == [opts.pri[0], opts.psi[0]]


def test_an_uncoupled_network_by_default():
    """The report of issue 13: a 50-neuron LIF-GH network at a low input rate fired at
    400+ Hz with the old default couplings of 0.05; by default neurons are uncoupled."""
    pm = dict(parameters(), nE=50, t=200.0, pr=0.5, ps=0.02, seed=1,
              **{"neuron-model": "LIF-GH"})
    together = simulate(pm)
    apart = simulate(dict(pm, net=np.zeros((50, 50))))
    np.testing.assert_array_equal(together.volt, apart.volt)   # the net changes nothing
    rate_hz = len(together.ras) / 50 / 0.2
    old_hz = len(simulate(dict(pm, scee=0.05)).ras) / 50 / 0.2
    assert 0 < rate_hz < 20 and old_hz > 300, (rate_hz, old_hz)   # Hz
    argv = to_argv(parameters())
    assert all(argv[argv.index(f"--{k}") + 1] == "0.0" for k in ("scee", "scie", "scei", "scii"))


def test_every_parameter_is_described_with_its_unit():
    assert set(PARAMETER_DOCS) == set(parameters())
    assert repr(describe("pr")).startswith("pr (1/ms, default 0.1): rate of the excitatory")
    assert "(ms, default 100.0)" in describe("t") and "mS/cm²" in describe("ps")
    assert "default 0.0" in describe("scee") and "E -> E" in describe("scee")
    assert describe().count("\n") == len(PARAMETER_DOCS) - 1
    with pytest.raises(ParameterError, match="did you mean 'scee'"):
        describe("scee_mv")
