"""Numba whole-network evolution over one interval: every neuron through its events.

``evolve_all`` is the hot loop of every method's trial. Neurons with no input event inside a
full-dt interval (and not refractory / just forced) take the quiet step in a vectorizable loop
over neurons; the others go through the scalar per-event path of kernels_step.
"""
from numba import njit

from neunet.sim.kernels_step import evolve


@njit(cache=True)
def evolve_all(S, rc, flag, cur, a, b, ctx, buf_t, buf_i):
    """Evolve every neuron from a to b; spikes appended to buf in neuron order: (count, err)."""
    (ev_ptr, ev_t, ev_s, model, cur_kind, par, quirks, dt, cf_dt) = ctx
    nb, err = 0, 0
    for i in range(S.shape[1]):
        nb, err = evolve(S, rc, flag, cur, i, a, b, ev_ptr, ev_t, ev_s, model, cur_kind, par,
                         quirks, dt, cf_dt, buf_t, buf_i, nb)
        if err:
            break
    return nb, err
