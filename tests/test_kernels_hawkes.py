"""Hawkes-GH: thresholds drawn from the run's MT19937, spike times of the linear V drift, the
reference's one-spike-per-quiet-step quirk, and Poisson input consumed inside the kernel."""
import math

import numpy as np

from neunet.sim import simulate
from neunet.sim.rng import mt_raw, mt_seed_seq_state


def exp_draws(seed, count, skip=0):
    """Exp(1) draws -log(1 - U), U from two MT19937 outputs (low word first), after `skip`."""
    raw = mt_raw(mt_seed_seq_state(seed), 2 * (count + skip))[2 * skip:].astype(float)
    u = (raw[0::2] + raw[1::2] * 2.0**32) / 2.0**64
    return -np.log1p(-u)


def lone_neuron(i0, t, extra=()):
    return simulate(["--neuron-model", "Hawkes-GH", "--simulation-method", "simple",
                     "--net", "-", "--t", str(t), "--seed", "5", "--set-threshold", str(i0),
                     *extra], outputs=("ras", "volt"))


def expected_times(i0, t):
    """Without input V = I0 t: the first threshold is I0 E1, later ones E2, E3, ..."""
    e = exp_draws([5], 400)
    times = [e[0]]
    for x in e[1:]:
        times.append(times[-1] + x / i0)
    return np.array([x for x in times if x < t])


def test_lone_neuron_fires_at_its_drawn_thresholds():
    out = lone_neuron(0.2, 200.0)
    want = expected_times(0.2, 200.0)
    assert len(want) > 10 and np.allclose(out["ras"][:, 1], want, atol=1e-9)


def test_two_crossings_in_one_step_by_default_one_with_quirks():
    i0, t = 40.0, 5.0                     # V climbs 40/ms: thresholds ~1 pass within one dt
    want = expected_times(i0, t)
    steps = np.floor(want / 0.03125)
    assert np.any(steps[1:] == steps[:-1])
    assert np.allclose(lone_neuron(i0, t)["ras"][:, 1], want, atol=1e-9)
    quirky = lone_neuron(i0, t, ["--reference-quirks"])["ras"][:, 1]
    assert quirky.size < want.size


def test_thresholds_are_drawn_after_the_poisson_start_up_draws():
    """With Poisson input each neuron's start-up draws come first (two per rate > 0 source
    with one event queued), then the thresholds; an event file does not change that."""
    ras = simulate(["--neuron-model", "Hawkes-GH", "--simulation-method", "simple",
                    "--net", "-", "--t", "50", "--seed", "5", "--pr", "1e-9", "--ps", "0"])
    theta0 = 0.2 * exp_draws([5], 1, skip=2)[0]       # 2 start-up draws for the E source
    assert math.isclose(ras["ras"][0, 1], theta0 / 0.2, abs_tol=1e-9)


def test_poisson_output_changes_the_run_only_with_quirks(tmp_path):
    args = ["--neuron-model", "Hawkes-GH", "--simulation-method", "simple", "--net", "-",
            "--nE", "3", "--t", "300", "--seed", "9", "--pr", "0.5", "--ps", "0.05",
            "--scee", "0.05"]
    plain = simulate(args)["ras"]
    both = simulate(args, outputs=("ras", "poisson"))
    assert np.array_equal(plain, both["ras"]) and both["poisson"].shape[0] > 300
    quirky = simulate(args + ["--reference-quirks"], outputs=("ras", "poisson"))["ras"]
    assert not np.array_equal(quirky, simulate(args + ["--reference-quirks"])["ras"])
