"""The one table of the simulator's neuron models and simulation methods (pure standard library).

Every other place that knows a model name reads it from here: the command line's help and
checks (`cli_parser`, `options`), the engine (`engine.MODELS` is `MODELS`), the Python
parameters (`neunet.params`) and the cost model (`neunet.sweep.cost`, via `Model.cost_base`).
The pairing of models and methods is the reference's compatibility table (spec section 2).
"""
from __future__ import annotations

from typing import NamedTuple


class Model(NamedTuple):
    """What neunet knows about one model name."""
    kid: int                # model id in the kernels (kernels_neuron.LIF_G ...)
    rows: tuple             # internal state row of each variable, in the model's state order
    current: int            # kernels_neuron.CUR_* kind of external current
    threshold: float        # default threshold
    refractory: float       # default refractory period (ms); unused by HH
    methods: tuple          # simulation methods allowed with it
    cost_base: str          # model whose synapses and rate curve the cost model uses

    @property
    def n_state(self) -> int:
        """State variables per neuron (columns of an initial-state array)."""
        return len(self.rows)


# Simulation methods neunet implements (the network kernels' method id is the index).
METHODS = ("simple", "SSC", "big-delay", "big-net-delay", "SSC-Sparse", "SSC-Sparse2",
           "cont-syn", "IF-jump", "IF-jump-delay")
# The method name that lets the simulator choose (resolved by `neunet.sim.options`).
AUTO = "auto"
# Internal rows (V, h, m, n, gE, gI, HE, HI) of the LIF-G and LIF-GH state layouts.
_ROWS_LIF_G, _ROWS_LIF_GH = (0, 4, 5), (0, 4, 5, 6, 7)
# Internal rows of the HH-G and HH-GH layouts.
_ROWS_HH_G, _ROWS_HH_GH = (0, 1, 2, 3, 4, 5), (0, 1, 2, 3, 4, 5, 6, 7)
# Internal rows of the IF-jump state: V, t_last, t_spike, V_grid.
_ROWS_IF_JUMP = (0, 1, 2, 3)
# Internal rows of the Hawkes-GH state: V, threshold, gE, gI, HE, HI.
_ROWS_HAWKES = (0, 1, 4, 5, 6, 7)
# Methods of the network models: every method of the delta-interaction kernels.
_NETWORK = ("simple", "SSC", "SSC-Sparse", "SSC-Sparse2", "big-delay", "big-net-delay")
# Methods of the -sine and -extI models (a constant delay only, as the reference).
_CURRENT = ("simple", "SSC", "SSC-Sparse", "SSC-Sparse2", "big-delay")
# Methods of DIF-single-GH (it has no delay method).
_NO_DELAY = ("simple", "SSC", "SSC-Sparse", "SSC-Sparse2")


def _hh(kid: int, rows: tuple, current: int, base: str) -> Model:
    """An HH-family model: threshold 65 mV, no refractory period."""
    return Model(kid, rows, current, 65.0, 0.0, _CURRENT if current else _NETWORK, base)


# Model name -> Model, for every model neunet simulates.
MODELS = {
    "LIF-G": Model(0, _ROWS_LIF_G, 0, 1.0, 2.0, _NETWORK, "LIF-G"),
    "LIF-GH": Model(1, _ROWS_LIF_GH, 0, 1.0, 2.0, _NETWORK, "LIF-GH"),
    "DIF-single-GH": Model(2, _ROWS_LIF_GH, 0, 1.0, 2.0, _NO_DELAY, "LIF-GH"),
    "HH-G": _hh(3, _ROWS_HH_G, 0, "HH-G"), "HH-GH": _hh(4, _ROWS_HH_GH, 0, "HH-GH"),
    "HH-PT-GH": _hh(5, _ROWS_HH_GH, 0, "HH-GH"), "HH-FT-GH": _hh(6, _ROWS_HH_GH, 0, "HH-GH"),
    "HH-G-sine": _hh(3, _ROWS_HH_G, 1, "HH-G"), "HH-GH-sine": _hh(4, _ROWS_HH_GH, 1, "HH-GH"),
    "HH-PT-GH-sine": _hh(5, _ROWS_HH_GH, 1, "HH-GH"),
    "HH-FT-GH-sine": _hh(6, _ROWS_HH_GH, 1, "HH-GH"),
    "HH-G-extI": _hh(3, _ROWS_HH_G, 2, "HH-G"), "HH-GH-extI": _hh(4, _ROWS_HH_GH, 2, "HH-GH"),
    # Voltage in units of 10 mV, whole-network RK4 with continuous synapses (spec 8.6).
    "HH-GH-cont-syn": Model(8, _ROWS_HH_GH, 0, 6.5, 0.0, ("cont-syn",), "HH-GH"),
    # Current-based jumps, exact decay (spec 8.7); T_ref 0 unless --refractory-time.
    "IF-jump": Model(7, _ROWS_IF_JUMP, 0, 1.0, 0.0, ("IF-jump", "IF-jump-delay"), "LIF-G"),
    # The "threshold" is the input current I0 (--set-threshold sets it), spec 8.8.
    "Hawkes-GH": Model(9, _ROWS_HAWKES, 0, 0.2, 0.0, ("simple",), "LIF-GH"),
}
# Models gen_neu has that neunet does not implement (none since issue 15).
REFERENCE_ONLY_MODELS = ()
# Methods gen_neu has that neunet does not implement (none).
REFERENCE_ONLY_METHODS = ()
# Value-taking options gen_neu has that neunet does not implement (none).
REFERENCE_ONLY_OPTIONS = ()
# Models whose constants can differ per neuron (--tau-g-path, --neuron-const-path) and the
# reference's constant order of each (its model struct's fields, --neuron-const-path order).
HETEROGENEOUS = {
    "LIF-GH": ("V_threshold", "V_reset", "V_leakage", "V_excitatory", "V_inhibitory", "G_leak",
               "tau_gE", "tau_gE_s1", "tau_gI", "tau_gI_s1", "Time_Refractory"),
    "DIF-single-GH": ("V_threshold", "V_reset", "V_leakage", "V_excitatory", "V_inhibitory",
                      "G_leak", "synaptic_alpha", "tau_gE", "tau_gE_s1", "tau_gI", "tau_gI_s1",
                      "Time_Refractory"),
    "HH-GH": ("V_Na", "V_K", "V_L", "G_Na", "G_K", "G_L", "V_gE", "V_gI", "tau_gE",
              "tau_gE_s1", "tau_gI", "tau_gI_s1", "V_threshold"),
}
# Default value of each constant of HETEROGENEOUS (spec section 8).
CONSTANT_DEFAULTS = {
    "LIF-GH": (1.0, 0.0, 0.0, 14.0 / 3.0, -2.0 / 3.0, 0.05, 2.0, 0.5, 5.0, 0.8, 2.0),
    "DIF-single-GH": (1.0, 0.0, 0.0, 14.0 / 3.0, -2.0 / 3.0, 0.05, 0.01, 2.0, 0.5, 5.0, 0.8,
                      2.0),
    "HH-GH": (115.0, -12.0, 10.6, 120.0, 36.0, 0.3, 65.0, -15.0, 0.5, 3.0, 0.5, 7.0, 65.0),
}


# Name of each row of the kernels' state array S (IF-jump and Hawkes-GH reuse rows).
ROW_NAMES = ("V", "h", "m", "n", "gE", "gI", "HE", "HI")
# Row names of the models that reuse rows, by kernel model id.
_OWN_ROW_NAMES = {7: ("V", "t_last", "t_spike", "V_grid"),
                  9: ("V", "threshold", "m", "n", "gE", "gI", "HE", "HI")}
# Rows that may hold an infinity on purpose, by kernel model id (IF-jump's t_spike is -inf
# until a neuron's first spike).
_INFINITE_ROWS = {7: (2,)}


def row_names(model: str) -> tuple:
    """The name of each row of the state array S of `model`."""
    return _OWN_ROW_NAMES.get(MODELS[model].kid, ROW_NAMES)


def finite_rows(model: str) -> tuple:
    """The rows of S that must stay finite while `model` runs (the stability check's)."""
    info = MODELS[model]
    return tuple(r for r in info.rows if r not in _INFINITE_ROWS.get(info.kid, ()))


def n_state_vars(model: str) -> int:
    """Number of state variables per neuron of `model` (columns of an initial state)."""
    return MODELS[model].n_state
