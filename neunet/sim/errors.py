"""The simulator's runtime errors, and the check that stops a run whose state blows up.

`SimulationError` is a runtime failure of a simulation (the command line exits 2 with its
message on one line); `SimUnstableError` is the one raised when the state stops being finite,
which happens when the time step is too large for the dynamics (HH-GH at --dt 0.125 ms goes
unstable at its first spike). The engine calls `unstable_point` after each chunk's kernel,
before anything of the chunk is written: a finite chunk costs two sums.
"""
from __future__ import annotations

import numpy as np

from neunet.sim.models import ROW_NAMES


class SimulationError(Exception):
    """Runtime failure of a simulation, e.g. "Multiple spikes in one dt"."""


class SimUnstableError(SimulationError):
    """The state of a neuron became non-finite (inf or nan): the integration is unstable."""


def unstable_point(S, state_rows, volt, row_of_step, t_ends, names=ROW_NAMES):
    """Where a chunk's state first is non-finite, or None if it stayed finite.

    Parameters
    ----------
    S : ndarray (8, n)
        The state at the end of the chunk.
    state_rows : sequence of int
        The rows of S that must stay finite (`models.finite_rows`: a model's state rows, but
        for those holding an infinity on purpose, such as IF-jump's last spike time).
    volt : ndarray (rows, n)
        The chunk's sample rows of V.
    row_of_step : ndarray (k,)
        Sample row of each step of the chunk (-1: none).
    t_ends : ndarray (k,)
        End time (ms) of each step of the chunk.
    names : sequence of str
        The name of each row of S (`models.row_names`), for the message.

    Returns
    -------
    None or (rows_ok, steps_ok, error)
        The sample rows before the first non-finite one and the steps before it (their
        raster lines), which may be written; then `error`, a SimUnstableError naming the
        neuron, the variable and the time, is to be raised. When only the state at the
        chunk's end is non-finite, all rows are kept and the steps after the last of them
        are not.
    """
    state = S[list(state_rows)]
    with np.errstate(over="ignore", invalid="ignore"):   # an overflowing sum is checked
        if np.isfinite(volt.sum()) and np.isfinite(state.sum()):
            return None
    row_steps = np.flatnonzero(row_of_step >= 0)
    bad = np.argwhere(~np.isfinite(volt))
    if bad.size:
        r, i = (int(x) for x in bad[0])
        var, value, steps_ok = "V", volt[r, i], int(row_steps[r])
        when = f"at t = {t_ends[steps_ok]:.6g}"
    else:
        bad = np.argwhere(~np.isfinite(state))
        if not bad.size:
            return None
        row, i = (int(x) for x in bad[0])
        r, var, value = volt.shape[0], names[state_rows[row]], state[row, i]
        steps_ok = int(row_steps[-1]) + 1 if r else 0
        when = f"by t = {t_ends[-1]:.6g}"
    return r, steps_ok, SimUnstableError(
        f"neuron {i + 1}: {var} = {value} {when} ms (numerically unstable; try a smaller --dt)")
