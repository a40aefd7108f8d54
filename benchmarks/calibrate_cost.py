"""Calibrate neunet's cost model (`neunet.sweep.cost.time_cost`) on this machine and check it.

Usage::

    python benchmarks/calibrate_cost.py            # measure, fit, print the check (no write)
    python benchmarks/calibrate_cost.py --write    # ... and write neunet/sweep/cost_constants.py
    python benchmarks/calibrate_cost.py --check    # only the check, with the shipped constants

Timing is in-process: the CPU time (`time.process_time`) of `neunet.simulate(pm)` (argv
parsing, net reading, event generation and the engine; no process start), the minimum over
repeats for short runs, after a warm-up run of every model/method so compilation is not
timed. CPU time rather than wall time because the machine may be shared: on an idle core
the two agree (the engine is single-threaded), and the wall time is printed alongside.

Steps: (1) firing-rate curve of each synapse family (uncoupled neurons, rate against the
mean excitatory conductance); (2) a fitting sweep with every model, from which the
per-model seconds per quiet step and the shared coefficients are fitted (weighted least
squares on relative error, with the measured firing rates); (3) an independent mixed check
sweep (models, n 1..300, t, pr, methods) predicted with the fitted constants and the
firing-rate *guess*, printing the Spearman rank correlation between estimated and measured
seconds (target >= 0.95) and the share of tasks within a factor 2 (target >= 90%).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from neunet import params
from neunet.params import argv as params_argv
from neunet.sim.models import MODELS
from neunet.single import simulate
from neunet.sweep import cost, cost_constants

# Where the fitted constants are written.
CONSTANTS_PATH = Path(__file__).resolve().parent.parent / "neunet" / "sweep" / "cost_constants.py"
# Seconds a single measured run should take at most (keeps the sweeps short).
MAX_RUN_S = 1.2
# Runs shorter than this are repeated and the minimum kept.
REPEAT_BELOW_S = 0.1
# Mean excitatory conductance values of the firing-rate curves, per family.
DRIVES = {"LIF": [0.0, 0.005, 0.01, 0.0125, 0.015, 0.02, 0.03, 0.05, 0.1, 0.2, 0.5, 1.0],
          "HH": [0.0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.08, 0.12, 0.2, 0.5, 1.0]}


def measure(pm, repeat_below_s=REPEAT_BELOW_S):
    """(CPU seconds, spikes per neuron per ms) of one in-process simulation."""
    best, result = float("inf"), None
    for _ in range(3):
        start = time.process_time()
        result = simulate(pm)
        best = min(best, time.process_time() - start)
        if best >= repeat_below_s:
            break
    v = params.validate(pm)
    rate = len(result.ras) / ((v["nE"] + v["nI"]) * (v["t"] + v["t-warming-up"]))
    return best, rate


def rate_curves(quick: bool) -> dict:
    """Measured firing rate against drive for each base model."""
    curves = {}
    for base, (tau_e, _) in cost_constants.TAU_PRODUCT.items():
        drives = DRIVES["HH" if base.startswith("HH") else "LIF"]
        rates = []
        for drive in drives:
            pm = dict(params.parameters(), **{"neuron-model": base, "simulation-method": "simple"},
                      nE=10, t=300.0 if quick else 1000.0, pr=1.0, ps=drive / tau_e, seed=1,
                      stv=1.0, scee=0.0, scie=0.0, scei=0.0, scii=0.0, net="--")
            try:
                rates.append(measure(pm, 0)[1])
            except Exception as exc:                     # e.g. multiple spikes in one dt
                print(f"  rate curve {base} drive {drive}: {exc}")
                rates.append(rates[-1] if rates else 0.0)
        rising = np.maximum.accumulate(rates)           # rate never falls with drive
        curves[base] = {"drive": drives, "rate": [round(float(r), 6) for r in rising]}
        print(f"  {base:7s} rates (1/ms): " + " ".join(f"{r:.3f}" for r in curves[base]["rate"]))
    return curves


def calibrated_methods(model: str) -> list:
    """The methods a model is calibrated with: simple, SSC and big-delay where the reference's
    pairing allows them (DIF-single-GH: no big-delay), else the model's own (IF-jump, cont-syn)."""
    allowed = MODELS[model].methods
    methods = [m for m in ("simple", "SSC", "big-delay") if m in allowed
               and not (m == "big-delay" and model == "DIF-single-GH")]
    return methods or [allowed[0]]


def random_task(rng, model=None, constants=None):
    """A random parameter set (model, method, n, net, t, input) sized to run <= MAX_RUN_S."""
    model = model or rng.choice(list(params.MODELS))
    method = str(rng.choice(calibrated_methods(model)))
    n = int(np.clip(np.round(np.exp(rng.uniform(0, np.log(300)))), 1, 300))
    dt = float(rng.choice([1 / 32, 1 / 32, 1 / 16, 1 / 8]))
    pr = float(rng.uniform(0.1, 4.0))
    tau_e = cost_constants.TAU_PRODUCT[MODELS[model].cost_base][0]
    drive = float(np.exp(rng.uniform(np.log(0.002), np.log(0.15))))
    pm = dict(params.parameters(), **{"neuron-model": model, "simulation-method": method},
              nE=n, nI=0, dt=dt, stv=float(rng.choice([dt, 0.5, 1.0])), pr=pr,
              ps=drive / (pr * tau_e), seed=int(rng.integers(1, 2**31)), t=100.0)
    if n > 1:
        density = float(rng.choice([1.0, rng.uniform(0.05, 0.3)]))
        if density < 1.0:
            from scipy import sparse
            pm["net"] = sparse.csr_matrix((rng.random((n, n)) < density).astype(float))
        n_i = int(rng.integers(0, n // 4 + 1))
        pm["nE"], pm["nI"] = n - n_i, n_i
        sc = float(rng.uniform(0.0, 0.05)) / (1.0 + n * density)
        pm.update(scee=sc, scie=sc, scei=2 * sc, scii=2 * sc)
    if rng.random() < 0.3:
        pm.update(pri=float(rng.uniform(0.1, 1.0)), psi=float(pm["ps"]))
    if method == "big-delay":
        pm["synaptic-delay"] = float(rng.uniform(1.5 * dt, 3.0))
    if model.endswith("-extI"):
        pm["extI"] = float(rng.uniform(0.0, 8.0))
    if model.endswith("-sine"):
        pm.update(**{"current-sine-amp": float(rng.uniform(0, 5)),
                     "current-sine-freq": float(rng.uniform(0.01, 0.1))})
    target_s = float(np.exp(rng.uniform(np.log(0.01), np.log(MAX_RUN_S))))
    per_ms = cost.time_cost(pm)[1] / pm["t"]
    pm["t"] = float(np.clip(round(target_s / per_ms / 10) * 10, 20.0, 20000.0))
    return pm


def features(pm, rate=None):
    """Cost-model features; with `rate` given, the measured firing rate replaces the guess."""
    return cost.cost_features(params.validate(pm), firing_rate=rate)


def run_sweep(name, pms):
    rows = []
    start, cpu_start = time.perf_counter(), time.process_time()
    for pm in pms:
        try:
            seconds, rate = measure(pm)
        except Exception as exc:
            print(f"  {name}: skipped {pm['neuron-model']} {pm['simulation-method']}: {exc}")
            continue
        rows.append((pm, seconds, rate))
    print(f"  {name}: {len(rows)} runs in {time.perf_counter() - start:.1f} s wall, "
          f"{time.process_time() - cpu_start:.1f} s CPU")
    return rows


# Shared coefficients multiplying a model's quiet-step cost (feature names).
SCALED = ("ssc_grid", "delay_grid", "event", "ssc", "delay")
# Shared coefficients in seconds per unit (feature name; "fixed" multiplies 1).
ABSOLUTE = ("step", "syn", "sample", "fixed")
# Feature behind each absolute coefficient.
ABS_FEATURE = {"step": "steps", "syn": "syn", "sample": "samples"}
# Feature behind each scaled coefficient.
SCALED_FEATURE = {"ssc_grid": "grid_ssc", "delay_grid": "grid_delay", "event": "event",
                  "ssc": "ssc", "delay": "delay"}


def fit(rows):
    """Alternating weighted least squares on relative error: per-model step cost, shared terms."""
    from scipy.optimize import nnls
    feats = [features(pm, rate) for pm, _, rate in rows]
    y = np.array([s for _, s, _ in rows])
    per_step = dict(cost_constants.SECONDS_PER_STEP)
    c = dict(cost_constants.COEFFS)
    col = lambda name: np.array([f[name] for f in feats], dtype=float)
    for _ in range(60):
        s_m = np.array([per_step[f["model"]] for f in feats])
        cols = ([s_m * col(SCALED_FEATURE[k]) for k in SCALED]
                + [col(ABS_FEATURE[k]) for k in ABSOLUTE[:-1]] + [np.ones(len(feats))])
        a = np.array(cols).T / y[:, None]
        coef, _ = nnls(a, (y - s_m * col("grid")) / y)
        c = dict(zip(SCALED + ABSOLUTE, (float(x) for x in coef)))
        for model in per_step:
            idx = [i for i, f in enumerate(feats) if f["model"] == model]
            if not idx:
                continue
            g = np.array([cost.seconds_of(feats[i], 1.0, dict(c, **{k: 0.0 for k in ABSOLUTE}))
                          for i in idx])
            rest = np.array([cost.seconds_of(feats[i], 0.0, c) for i in idx])
            w = 1.0 / y[idx]
            per_step[model] = float(max(np.sum(w * w * g * (y[idx] - rest))
                                        / np.sum(w * w * g * g), 1e-10))
    return per_step, c


def spearman(a, b) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def check(rows, per_step=None, coeffs=None, curves=None, verbose=True):
    """Predict each run with the firing-rate guess; print and return (spearman, share in 2x)."""
    saved = (cost_constants.SECONDS_PER_STEP, cost_constants.COEFFS, cost_constants.RATE_CURVE)
    cost_constants.SECONDS_PER_STEP = per_step or saved[0]
    cost_constants.COEFFS = coeffs or saved[1]
    cost_constants.RATE_CURVE = curves or saved[2]
    try:
        est = np.array([cost.time_cost(pm)[1] for pm, _, _ in rows])
    finally:
        (cost_constants.SECONDS_PER_STEP, cost_constants.COEFFS,
         cost_constants.RATE_CURVE) = saved
    real = np.array([s for _, s, _ in rows])
    ratio = est / real
    if verbose:
        print(f"  {'model':14s} {'method':9s} {'n':>4s} {'t_ms':>7s} {'pr':>5s} {'f_real':>6s}"
              f" {'est_s':>8s} {'real_s':>8s} {'est/real':>8s}")
        for (pm, s, rate), e in zip(rows, est):
            v = params.validate(pm)
            print(f"  {v['neuron-model']:14s} {v['simulation-method']:9s} "
                  f"{v['nE'] + v['nI']:4d} {v['t']:7.0f} {v['pr']:5.2f} {rate:6.3f} "
                  f"{e:8.4f} {s:8.4f} {e / s:8.2f}")
    rho = spearman(est, real)
    share = float(np.mean((ratio <= 2) & (ratio >= 0.5)))
    return rho, share


def write_constants(per_step, coeffs, curves):
    def fmt(d):
        return "{\n" + "".join(f"    {k!r}: {v!r},\n" for k, v in d.items()) + "}"
    text = f'''"""Constants of the cost model (`neunet.sweep.cost.time_cost`).

Written by benchmarks/calibrate_cost.py.

Measured on this engine ({time.strftime("%Y-%m-%d")}, in-process timing of neunet.simulate).
Regenerate with `python benchmarks/calibrate_cost.py --write`.
"""

# Where these numbers come from.
SOURCE = ("benchmarks/calibrate_cost.py, {time.strftime("%Y-%m-%d %H:%M")} UTC, "
          "{os.uname().nodename}")

# Model -> seconds per quiet step of one neuron.
SECONDS_PER_STEP = {fmt({k: float(f"{v:.4g}") for k, v in per_step.items()})}

# Shared coefficients: ssc_grid/delay_grid (extra per neuron-step of SSC / big-delay) and
# event/ssc/delay are multiples of a quiet step; step, syn, sample and fixed are seconds per
# grid step, synaptic delivery, output value and simulation.
COEFFS = {fmt({k: float(f"{v:.4g}") for k, v in coeffs.items()})}

# Base model -> (E, I) mean conductance per unit of rate x strength (ms): tau for G
# synapses, tau_g * tau_h for GH synapses.
TAU_PRODUCT = {fmt(cost_constants.TAU_PRODUCT)}

# Base model -> firing rate (1/ms) against mean excitatory conductance (drive), measured.
RATE_CURVE = {fmt(curves)}
'''
    CONSTANTS_PATH.write_text(text)
    print(f"wrote {CONSTANTS_PATH}")


def warm_up():
    """Run every model with every method once, tiny, so compilation is not timed."""
    start = time.perf_counter()
    for model in params.MODELS:
        for method in calibrated_methods(model):
            pm = dict(params.parameters(), **{"neuron-model": model,
                                              "simulation-method": method}, t=2.0, nE=2)
            if method == "big-delay":
                pm["synaptic-delay"] = 0.5
            if model.endswith("-extI"):
                pm["extI"] = 1.0
            simulate(pm)
    print(f"warm-up (compile/load every model and method): {time.perf_counter() - start:.1f} s")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="write neunet/sweep/cost_constants.py")
    ap.add_argument("--check", action="store_true", help="only check the shipped constants")
    ap.add_argument("--fit-per-model", type=int, default=6, help="fitting runs per model")
    ap.add_argument("--check-tasks", type=int, default=48, help="runs in the check sweep")
    ap.add_argument("--quick", action="store_true", help="shorter rate curves")
    args = ap.parse_args(argv)
    os.environ.setdefault(params_argv.DATA_DIR_ENV, tempfile.mkdtemp(prefix="neunet-cal-"))
    warm_up()
    per_step = coeffs = curves = None
    if not args.check:
        print("1) firing-rate curves")
        curves = rate_curves(args.quick)
        cost_constants.RATE_CURVE = curves
        print("2) fitting sweep")
        rng = np.random.default_rng(2024)
        fit_pms = [random_task(rng, model) for model in params.MODELS
                   for _ in range(args.fit_per_model)]
        rows = run_sweep("fit", fit_pms)
        per_step, coeffs = fit(rows)
        cost_constants.SECONDS_PER_STEP, cost_constants.COEFFS = per_step, coeffs
        print("  seconds per quiet step: " + ", ".join(f"{k} {v:.3g}"
                                                       for k, v in per_step.items()))
        print("  shared: " + ", ".join(f"{k} {v:.3g}" for k, v in coeffs.items()))
        rho, share = check(rows, per_step, coeffs, curves, verbose=False)
        print(f"  on the fitting runs: spearman {rho:.3f}, within 2x {share:.0%}")
    print("3) check sweep (independent tasks, firing rate guessed)")
    rng = np.random.default_rng(7)
    start = time.perf_counter()
    rows = run_sweep("check", [random_task(rng) for _ in range(args.check_tasks)])
    rho, share = check(rows, per_step, coeffs, curves)
    print(f"check sweep: {len(rows)} tasks, {time.perf_counter() - start:.0f} s measured")
    print(f"Spearman rank correlation estimated vs measured seconds: {rho:.3f} "
          f"(target >= 0.95)")
    print(f"tasks within a factor 2: {share:.0%} (target >= 90%)")
    if args.write and per_step is not None:
        write_constants(per_step, coeffs, curves)
    return 0 if rho >= 0.95 and share >= 0.9 else 1


if __name__ == "__main__":
    sys.exit(main())
