"""What each parameter means, with its unit: the table behind `describe` and the docs.

Units follow the simulator (docs: "Conventions"): times in ms, rates in 1/ms (= kHz), HH
models in mV, mS/cm² and µA/cm²; LIF-type models are dimensionless (threshold 1 ≈ 15 mV
above rest, conductances in 1/ms). A "strength" is added at once to the neuron's inject
variable: gE (or gI) for -G models, its rate HE (or HI) for -GH models.
"""
from __future__ import annotations

from neunet.sim.models import AUTO, METHODS, MODELS

# What a strength is, in units, for the entries below.
_STRENGTH = ("jump of the receiving neuron's E (or I) inject variable: gE for -G models "
             "(HH: mS/cm², LIF: 1/ms), HE for -GH models (HH: mS/cm²/ms, LIF: 1/ms²)")

# Parameter key -> (unit, meaning).
PARAMETER_DOCS = {
    "neuron-model": ("", "neuron model: " + ", ".join(MODELS)),
    "simulation-method": ("", "how the network is integrated: " + ", ".join(METHODS)
                              + f", or {AUTO} (the simulator chooses, as gen_neu does)"),
    "net": ("", "network: '-' all-to-all, '--' ring, a file path, a list of lists, a numpy "
                "array or a scipy.sparse matrix; A[i][j] = weight of the edge from j to i"),
    "sparse-net": ("", "the 'net' file holds 'i j a' lines (1-based) instead of a full matrix"),
    "t": ("ms", "simulated time after the warm-up"),
    "dt": ("ms", "time step"),
    "stv": ("ms", "sampling interval of the recorded voltage (a whole multiple of dt; None: "
                  "every dt)"),
    "t-warming-up": ("ms", "initial time simulated and discarded (rounded down to a multiple "
                           "of dt)"),
    "nE": ("neurons", "excitatory neurons (numbered 1..nE)"),
    "nI": ("neurons", "inhibitory neurons (numbered nE+1..nE+nI)"),
    "pr": ("1/ms", "rate of the excitatory Poisson input of each neuron (1/ms = 1 kHz); one "
                   "value for all, or one per neuron"),
    "ps": ("strength", "strength of each excitatory Poisson event: " + _STRENGTH),
    "pri": ("1/ms", "rate of the inhibitory Poisson input of each neuron"),
    "psi": ("strength", "strength (magnitude) of each inhibitory Poisson event, on the I "
                        "inject variable"),
    "scee": ("strength", "coupling E -> E: a spike of excitatory neuron j adds A[i][j]·scee "
                         "to the E inject variable of excitatory neuron i (0: uncoupled)"),
    "scie": ("strength", "coupling E -> I: added to the E inject variable of an inhibitory "
                         "neuron per spike of an excitatory one, times A[i][j]"),
    "scei": ("strength", "coupling I -> E: added to the I inject variable of an excitatory "
                         "neuron per spike of an inhibitory one, times A[i][j]"),
    "scii": ("strength", "coupling I -> I: added to the I inject variable of an inhibitory "
                         "neuron per spike of an inhibitory one, times A[i][j]"),
    "seed": ("", "random seed of the Poisson input: None (the reference's fixed default), an "
                 "integer or a list of unsigned 32-bit integers, or 'auto' (fresh entropy)"),
    "set-threshold": ("mV (HH) / 1 (LIF)", "spike threshold instead of the model's (HH 65 mV, "
                                           "LIF 1)"),
    "no-threshold": ("", "no spikes recorded and no LIF reset (threshold +inf)"),
    "current-sine-amp": ("µA/cm²", "amplitude A of the sine current I = A·sin(2πft + 2πj/n) of "
                                   "the -sine models"),
    "current-sine-freq": ("kHz", "frequency f of that sine current (cycles per ms)"),
    "extI": ("µA/cm²", "constant external current of the -extI models (required there)"),
    "synaptic-delay": ("ms", "one delay for every edge (> dt; method big-delay)"),
    "refractory-time": ("ms", "refractory period of the LIF-type models (default 2 ms)"),
    "output-first-data-point": ("", "also record the t = 0 state as the first sample"),
    "initial-state-path": ("model units", "initial state: a file or an n x n_var array in the "
                                          "model's state order (LIF-G: V gE gI; LIF-GH: V gE "
                                          "gI HE HI; HH-GH: V h m n gE gI HE HI)"),
    "input-event-path": ("ms", "input events instead of Poisson input: a file or a k x 2/3 "
                               "array of id (1-based), time (ms)[, strength; default ps, "
                               "negative = inhibitory]"),
    "reference-quirks": ("", "reproduce the C++ reference's numerical bugs, for exact "
                             "comparison with it"),
    "tau-g-path": ("ms", "per-neuron conductance time constants: a file or an n x 4 array "
                         "(tau_gE_s1 tau_gE tau_gI_s1 tau_gI)"),
    "neuron-const-path": ("model units", "per-neuron model constants: a file or an n x k "
                                         "array in the model's constant order"),
    "force-spike-list": ("ms", "forced resets: a file or a k x 2 array of id (1-based), "
                               "time (ms)"),
    "synaptic-net-delay": ("ms", "a delay per synapse: a file or an n x n array (methods "
                                 "big-net-delay, IF-jump-delay)"),
    "parameter-path": ("", "not needed from Python: set the keys of the mapping (must stay "
                           "None)"),
}


class Description(str):
    """Text that shows as itself at the interactive prompt (no quotes, real line breaks)."""

    def __repr__(self) -> str:
        return str(self)


def describe(name: str | None = None) -> Description:
    """What a parameter means, its unit and its default; every parameter when `name` is None.

    Parameters
    ----------
    name : str, optional
        A key of `neunet.parameters()` (``'pr'``, ``'scee'``, ...).

    Returns
    -------
    Description
        A str: ``"pr (1/ms, default 0.1): rate of the excitatory Poisson input ..."``.

    Raises
    ------
    ParameterError
        An unknown name (with the closest key).
    """
    from neunet.params import ParameterError, parameters, suggest
    defaults = parameters()
    if name is None:
        return Description("\n".join(_line(k, defaults[k]) for k in PARAMETER_DOCS))
    if name not in PARAMETER_DOCS:
        raise ParameterError(f"unknown parameter {name!r}{suggest(name, PARAMETER_DOCS)}")
    return Description(_line(name, defaults[name]))


def _line(key: str, default) -> str:
    unit, meaning = PARAMETER_DOCS[key]
    head = ", ".join(x for x in (unit, f"default {default!r}") if x)
    return f"{key} ({head}): {meaning}"
