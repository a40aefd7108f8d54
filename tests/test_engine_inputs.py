"""neunet.sim.engine_inputs: forced-reset schedule, per-neuron constants, default states."""
import math
from types import SimpleNamespace

import numpy as np

from neunet.sim.engine_inputs import (
    ForceList,
    constants_table,
    default_state,
    kernel_params,
    neuron_constants,
)
from neunet.sim.kernels_neuron import K_HH_THRESH, K_TAUS, N_PAR, P_HET, P_KN
from neunet.sim.models import CONSTANT_DEFAULTS, HETEROGENEOUS, MODELS

# Step ends of a chunk of 4 steps of dt 0.25 from t = 1.
T_ENDS = np.array([1.25, 1.5, 1.75, 2.0])


def test_force_list_default_applies_every_entry_in_its_step():
    f = ForceList(np.array([0, 1, 2, 3]), np.array([-1.0, 1.3, 1.4, 1.75]), quirks=False)
    assert f.in_chunk(4, 1.0, T_ENDS) == [(1, [1, 2]), (3, [3])]   # -1 ms: before the run
    assert f.in_chunk(8, 2.0, T_ENDS + 1.0) == []


def test_force_list_quirks_take_one_entry_per_step_then_stick():
    f = ForceList(np.array([0, 1, 2]), np.array([1.3, 1.4, 1.9]), quirks=True)
    assert f.in_chunk(4, 1.0, T_ENDS) == [(1, [0])]     # 1.4 is in the same step: stuck
    f = ForceList(np.array([0, 1, 2]), np.array([1.3, 1.6, 2.1]), quirks=True)
    assert f.in_chunk(4, 1.0, T_ENDS) == [(1, [0]), (2, [1])]
    assert f.in_chunk(8, 2.0, T_ENDS + 1.0) == [(0, [2])]


def _problem(model, **kw):
    fields = dict(model=model, constants=None, threshold=None, refractory=None, quirks=False,
                  sine_amp=0.0, sine_freq=0.0, ext_current=0.0)
    fields.update(kw)
    return SimpleNamespace(**fields)


def test_constants_table_order_and_overrides():
    tau_g = np.array([[0.4, 3.0, 0.9, 6.0]])                   # s1 first, as the file
    table = constants_table("LIF-GH", 1, tau_g)
    names = HETEROGENEOUS["LIF-GH"]
    assert table[0, names.index("tau_gE_s1")] == 0.4 and table[0, names.index("tau_gI")] == 6.0
    assert table[0, names.index("V_threshold")] == 1.0
    consts = np.arange(1.0, 12.0)[None, :]
    assert np.array_equal(constants_table("LIF-GH", 1, tau_g, consts), consts)
    p = _problem("LIF-GH", constants=table, threshold=0.7, refractory=0.5)
    got = neuron_constants(p, 1)
    assert got[0, 0] == 0.7 and got[0, names.index("Time_Refractory")] == 0.5
    p.quirks = True                                             # the reference ignores them
    assert np.array_equal(neuron_constants(p, 1), table)


def test_kernel_blocks_put_each_constant_in_its_place():
    for model in HETEROGENEOUS:
        table = np.array([CONSTANT_DEFAULTS[model]] * 2)
        par, _ = kernel_params(_problem(model, constants=table), MODELS[model], 2)
        assert par[P_HET] == 1.0 and par.size == N_PAR + 2 * P_KN
        block = par[N_PAR + P_KN:N_PAR + 2 * P_KN]              # neuron 2
        names = HETEROGENEOUS[model]
        taus = [table[1, names.index(k)] for k in ("tau_gE", "tau_gE_s1", "tau_gI", "tau_gI_s1")]
        assert block[K_TAUS:K_TAUS + 4].tolist() == taus
        if model == "HH-GH":
            assert block[K_HH_THRESH] == 65.0 and block[0] == 115.0
        else:
            assert block[0] == 1.0 and block[7] == 2.0          # threshold, T_ref
            assert block[6] == (0.01 if model == "DIF-single-GH" else 0.0)


def test_default_states():
    assert default_state(MODELS["HH-GH-cont-syn"], 1)[0, 0] == 2.7756626542950876e-05
    assert default_state(MODELS["IF-jump"], 2, quirks=False)[:, 2].tolist() == [-math.inf] * 2
    assert default_state(MODELS["IF-jump"], 2, quirks=True).tolist() == [[0.0] * 4] * 2
