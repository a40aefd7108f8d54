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


# Simulation methods neunet implements (the kernels' method id is the index).
METHODS = ("simple", "SSC", "big-delay")
# The method name that lets the simulator choose (resolved by `neunet.sim.options`).
AUTO = "auto"
# Internal rows (V, h, m, n, gE, gI, HE, HI) of the LIF-G and LIF-GH state layouts.
_ROWS_LIF_G, _ROWS_LIF_GH = (0, 4, 5), (0, 4, 5, 6, 7)
# Internal rows of the HH-G and HH-GH layouts.
_ROWS_HH_G, _ROWS_HH_GH = (0, 1, 2, 3, 4, 5), (0, 1, 2, 3, 4, 5, 6, 7)
# Methods of DIF-single-GH (it has no delay method).
_NO_DELAY = ("simple", "SSC")


def _hh(kid: int, rows: tuple, current: int, base: str) -> Model:
    """An HH-family model: threshold 65 mV, no refractory period, every method."""
    return Model(kid, rows, current, 65.0, 0.0, METHODS, base)


# Model name -> Model, for every model neunet simulates.
MODELS = {
    "LIF-G": Model(0, _ROWS_LIF_G, 0, 1.0, 2.0, METHODS, "LIF-G"),
    "LIF-GH": Model(1, _ROWS_LIF_GH, 0, 1.0, 2.0, METHODS, "LIF-GH"),
    "DIF-single-GH": Model(2, _ROWS_LIF_GH, 0, 1.0, 2.0, _NO_DELAY, "LIF-GH"),
    "HH-G": _hh(3, _ROWS_HH_G, 0, "HH-G"), "HH-GH": _hh(4, _ROWS_HH_GH, 0, "HH-GH"),
    "HH-PT-GH": _hh(5, _ROWS_HH_GH, 0, "HH-GH"), "HH-FT-GH": _hh(6, _ROWS_HH_GH, 0, "HH-GH"),
    "HH-G-sine": _hh(3, _ROWS_HH_G, 1, "HH-G"), "HH-GH-sine": _hh(4, _ROWS_HH_GH, 1, "HH-GH"),
    "HH-PT-GH-sine": _hh(5, _ROWS_HH_GH, 1, "HH-GH"),
    "HH-FT-GH-sine": _hh(6, _ROWS_HH_GH, 1, "HH-GH"),
    "HH-G-extI": _hh(3, _ROWS_HH_G, 2, "HH-G"), "HH-GH-extI": _hh(4, _ROWS_HH_GH, 2, "HH-GH"),
}
# Models gen_neu has that neunet does not implement.
REFERENCE_ONLY_MODELS = ("HH-GH-cont-syn", "IF-jump", "Hawkes-GH")
# Methods gen_neu has that neunet does not implement.
REFERENCE_ONLY_METHODS = ("SSC-Sparse", "SSC-Sparse2", "big-net-delay", "cont-syn", "IF-jump",
                          "IF-jump-delay")
# Value-taking options gen_neu has that neunet does not implement.
REFERENCE_ONLY_OPTIONS = ("tau-g-path", "neuron-const-path", "force-spike-list",
                          "synaptic-net-delay")


def n_state_vars(model: str) -> int:
    """Number of state variables per neuron of `model` (columns of an initial state)."""
    return MODELS[model].n_state
