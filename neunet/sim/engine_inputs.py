"""Per-run inputs the engine's runners share: initial state, kernel parameters, forced resets.

``internal_state`` lays a model's state out as the kernels hold it; ``kernel_params`` builds
the float parameter vector, with each neuron's constants appended for a heterogeneous
network (``neuron_constants``: defaults, then --tau-g-path, --neuron-const-path and the
--set-threshold/--no-threshold/--refractory-time overrides); ``ForceList`` schedules the
--force-spike-list resets chunk by chunk.
"""
from __future__ import annotations

import math

import numpy as np

from neunet.sim.models import CONSTANT_DEFAULTS, HETEROGENEOUS

# Default HH state V, h, m, n (resting point).
HH_REST = (2.7756626542950876e-04, 5.9611104634682788e-01, 5.2934217620863984e-02,
           3.1768116757978115e-01)
# HH-GH-cont-syn's resting V (units of 10 mV; the gates are HH_REST's).
CONT_SYN_V_REST = 2.7756626542950876e-05
# Model ids of the HH family and of cont-syn, IF-jump (kernels_neuron).
_HH_KIDS, _CONT_SYN, _IF_JUMP = (3, 4, 5, 6), 8, 7
# Row of each normalized per-neuron constant (kernels_neuron.P_KN block) in a model's
# HETEROGENEOUS order: LIF-GH / DIF-single-GH: threshold, V_reset, V_L, V_E, V_I, G_L, alpha,
# T_ref, tau_gE, tau_gE_s1, tau_gI, tau_gI_s1; HH-GH keeps its own order.
_BLOCK = {
    "LIF-GH": ("V_threshold", "V_reset", "V_leakage", "V_excitatory", "V_inhibitory", "G_leak",
               None, "Time_Refractory", "tau_gE", "tau_gE_s1", "tau_gI", "tau_gI_s1"),
    "DIF-single-GH": ("V_threshold", "V_reset", "V_leakage", "V_excitatory", "V_inhibitory",
                      "G_leak", "synaptic_alpha", "Time_Refractory", "tau_gE", "tau_gE_s1",
                      "tau_gI", "tau_gI_s1"),
    "HH-GH": HETEROGENEOUS["HH-GH"],
}


def default_state(model_info, n: int, quirks: bool = True) -> np.ndarray:
    """Default initial state (n, n_state) of a model, in its state order (Hawkes-GH's
    thresholds are drawn by ``internal_state``). IF-jump's last spike time is -inf: no
    spike yet (with quirks 0, as the reference, which drops input at t <= T_ref)."""
    state = np.zeros((n, model_info.n_state))
    if model_info.kid in _HH_KIDS or model_info.kid == _CONT_SYN:
        state[:, :4] = HH_REST
    if model_info.kid == _CONT_SYN:
        state[:, 0] = CONT_SYN_V_REST
    if model_info.kid == _IF_JUMP and not quirks:
        state[:, 2] = -math.inf
    return state


def internal_state(problem, info, n: int) -> np.ndarray:
    """State as the kernels hold it: (8, n), rows V, h, m, n, gE, gI, HE, HI (other models
    put their variables in the rows of models.MODELS[...].rows)."""
    given = problem.initial_state
    state = default_state(info, n, problem.quirks) if given is None else np.asarray(given, float)
    if state.shape != (n, info.n_state):
        raise ValueError(f"initial state has shape {state.shape}, expected {(n, info.n_state)}")
    S = np.zeros((8, n))
    for col, row in enumerate(info.rows):
        S[row] = state[:, col]
    if problem.model == "Hawkes-GH" and given is None:
        _draw_thresholds(S, problem, info)
    return S


def _draw_thresholds(S, problem, info):
    """Hawkes-GH default thresholds I0 x Exp(1), one draw per neuron from the run's MT19937
    (after the Poisson start-up draws, as the reference fills its default state)."""
    from neunet.sim.kernels_hawkes import draw_thresholds
    i0 = info.threshold if problem.threshold is None else problem.threshold
    draw_thresholds(S, problem.mt, float(i0))


def neuron_constants(problem, n: int) -> np.ndarray | None:
    """Per-neuron constants (n, k) in the model's HETEROGENEOUS order, or None when the
    network is homogeneous. With quirks the overrides of --set-threshold, --no-threshold and
    --refractory-time are dropped (the reference applies them to a model no neuron uses)."""
    if problem.constants is None:
        return None
    table = np.array(problem.constants, dtype=np.float64)
    names = HETEROGENEOUS[problem.model]
    if not problem.quirks:
        thr = "V_threshold"
        if problem.threshold is not None:
            table[:, names.index(thr)] = problem.threshold
        if problem.refractory is not None and "Time_Refractory" in names:
            table[:, names.index("Time_Refractory")] = problem.refractory
    return table


def constants_table(model: str, n: int, tau_g=None, consts=None) -> np.ndarray:
    """The (n, k) constants of a heterogeneous run: defaults, --tau-g-path (columns
    tau_gE_s1 tau_gE tau_gI_s1 tau_gI), then --neuron-const-path (every constant)."""
    names = HETEROGENEOUS[model]
    table = np.tile(np.array(CONSTANT_DEFAULTS[model], np.float64), (n, 1))
    if tau_g is not None:
        for c, name in enumerate(("tau_gE_s1", "tau_gE", "tau_gI_s1", "tau_gI")):
            table[:, names.index(name)] = tau_g[:, c]
    if consts is not None:
        table[:] = consts
    return table


def kernel_params(problem, info, n: int) -> tuple[np.ndarray, int]:
    """Float parameter vector of the kernels (kernels_neuron.P_*, with the per-neuron
    blocks of a heterogeneous network) and the external current kind."""
    from neunet.sim.kernels_neuron import N_PAR, P_HET, P_KN
    thr = info.threshold if problem.threshold is None else problem.threshold
    tref = info.refractory if problem.refractory is None else problem.refractory
    table = neuron_constants(problem, n)
    par = np.zeros(N_PAR + (0 if table is None else n * P_KN))
    par[:6] = (thr, tref, problem.sine_amp, problem.sine_freq, problem.ext_current, n)
    if table is not None:
        par[P_HET] = 1.0
        par[N_PAR:] = _blocks(problem.model, table, P_KN).ravel()
    cur = info.current
    if cur == 1 and info.kid == 5 and problem.quirks:
        cur = 0                      # QUIRK: HH-PT-GH-sine ignores the sine current
    return par, cur


def _blocks(model, table, width):
    """Per-neuron kernel blocks (n, width) from a constants table in HETEROGENEOUS order."""
    names = HETEROGENEOUS[model]
    out = np.zeros((table.shape[0], width))
    for pos, name in enumerate(_BLOCK[model]):
        if name is not None:
            out[:, pos] = table[:, names.index(name)]
    return out


class ForceList:
    """The --force-spike-list resets, handed out chunk by chunk.

    A listed reset happens at the start of the step [t, t + dt) holding its time. By
    default every listed entry is applied; with quirks the reference's rule: at most one
    entry per step, taken in file order, and an entry whose step has passed (a second
    entry in the same step, a time before 0 or out of order) blocks the rest of the list.
    """

    def __init__(self, ids, times, quirks):
        self.ids = np.zeros(0, np.int64) if ids is None else np.asarray(ids, np.int64)
        self.times = np.zeros(0) if times is None else np.asarray(times, np.float64)
        self.quirks = quirks
        self.next = 0
        self.last_step = -1

    def in_chunk(self, first_step, t_ms, t_ends) -> list:
        """[(step within the chunk, neuron ids), ...] ascending, for the steps ending at
        t_ends (the first starts at t_ms, global step first_step)."""
        out = {}
        while self.next < self.times.size:
            f = self.times[self.next]
            if f >= t_ends[-1]:
                break
            step = int(np.searchsorted(t_ends, f, side="right"))
            passed = f < t_ms or (self.quirks and first_step + step <= self.last_step)
            if passed and self.quirks:
                self.next = self.times.size          # the reference's list is stuck here
                break
            if not passed:
                out.setdefault(step, []).append(int(self.ids[self.next]))
                self.last_step = first_step + step
            self.next += 1
        return sorted(out.items())
