"""neunet.sim.errors: where a chunk's state first is non-finite, and what may be written."""
import numpy as np

from neunet.sim.errors import SimulationError, SimUnstableError, unstable_point

# A chunk of 8 steps with a sample row every 2 steps (rows 0-3 at steps 1, 3, 5, 7).
ROWS = np.array([-1, 0, -1, 1, -1, 2, -1, 3])
# Every row of S is a state variable (the HH-GH layout).
ALL_ROWS = tuple(range(8))
# The steps' end times (ms).
T_ENDS = 10.0 + 0.25 * np.arange(1, 9)


def _chunk(n=3):
    return np.zeros((8, n)), np.ones((4, n))


def test_a_finite_chunk_passes_even_when_its_sums_overflow():
    S, volt = _chunk()
    assert unstable_point(S, ALL_ROWS, volt, ROWS, T_ENDS) is None
    volt[:, 0] = 1.5e308                                  # sum inf, every value finite
    assert unstable_point(S, ALL_ROWS, volt, ROWS, T_ENDS) is None


def test_the_first_non_finite_row_names_neuron_and_time():
    S, volt = _chunk()
    volt[2, 1] = np.nan
    volt[3, 0] = np.inf
    S[0, 1] = np.nan
    rows_ok, steps_ok, error = unstable_point(S, ALL_ROWS, volt, ROWS, T_ENDS)
    assert (rows_ok, steps_ok) == (2, 5)                  # rows 0-1, steps 0-4 are kept
    assert isinstance(error, SimUnstableError) and isinstance(error, SimulationError)
    assert str(error) == ("neuron 2: V = nan at t = 11.5 ms (numerically unstable; try a "
                          "smaller --dt)")


def test_a_state_that_blows_up_after_the_last_row_keeps_the_rows():
    S, volt = _chunk()
    S[2, 2] = -np.inf                                     # m of neuron 3
    rows_ok, steps_ok, error = unstable_point(S, ALL_ROWS, volt, ROWS, T_ENDS)
    assert (rows_ok, steps_ok) == (4, 8)
    assert str(error).startswith("neuron 3: m = -inf by t = 12 ms (")
    rows_ok, steps_ok, _ = unstable_point(S, ALL_ROWS, volt[:0], np.full(8, -1), T_ENDS)
    assert (rows_ok, steps_ok) == (0, 0)                  # no rows (warm-up): nothing kept


def test_rows_that_are_no_state_variables_are_not_checked():
    S, volt = _chunk()
    S[2] = -np.inf                                        # e.g. IF-jump's "never spiked"
    assert unstable_point(S, (0, 1), volt, ROWS, T_ENDS) is None
    S[1, 2] = np.nan
    assert str(unstable_point(S, (0, 1), volt, ROWS, T_ENDS)[2]).startswith("neuron 3: h = nan")


def test_if_jump_keeps_a_silent_neurons_infinite_spike_time():
    """IF-jump holds t_spike = -inf until a neuron's first spike: not a blow-up (a network
    with a silent neuron ran into 'm = -inf' before the check knew the model's rows)."""
    import subprocess
    import sys

    from neunet.sim.models import finite_rows, row_names
    assert 2 not in finite_rows("IF-jump") and row_names("IF-jump")[2] == "t_spike"
    S, volt = _chunk()
    S[2, :] = -np.inf
    assert unstable_point(S, finite_rows("IF-jump"), volt, ROWS, T_ENDS) is None
    S[1, 0] = np.nan                                      # t_last of neuron 1
    _, _, error = unstable_point(S, finite_rows("IF-jump"), volt, ROWS, T_ENDS,
                                 row_names("IF-jump"))
    assert str(error).startswith("neuron 1: t_last = nan")
    run = subprocess.run([sys.executable, "-m", "neunet.sim", "--neuron-model", "IF-jump",
                          "--nE", "3", "--t", "20", "--pr", "1", "0", "0", "--ps", "0.02",
                          "--net", "-", "--seed", "1"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
