"""Constants of the cost model (`neunet.tasks.time_cost`), written by benchmarks/calibrate_cost.py.

PLACEHOLDER: derived from the reference README's 2017 single-neuron timings (spec section 11);
not yet measured on this engine. Regenerate with `python benchmarks/calibrate_cost.py --write`.
"""

# Where these numbers come from.
SOURCE = "spec section 11 ratios (uncalibrated placeholder)"

# Model -> seconds per quiet step of one neuron.
SECONDS_PER_STEP = {
    "LIF-G": 1.1e-07, "LIF-GH": 1.4e-07, "DIF-single-GH": 1.5e-07,
    "HH-G": 3.7e-07, "HH-GH": 4.0e-07, "HH-PT-GH": 4.1e-07, "HH-FT-GH": 4.1e-07,
    "HH-G-sine": 4.5e-07, "HH-GH-sine": 4.5e-07, "HH-PT-GH-sine": 4.5e-07,
    "HH-FT-GH-sine": 4.5e-07, "HH-G-extI": 4.0e-07, "HH-GH-extI": 4.0e-07,
}

# Shared coefficients: ssc_grid/delay_grid (extra per neuron-step of SSC / big-delay) and
# event/ssc/delay are multiples of a quiet step; step, syn, sample and fixed are seconds per
# grid step, synaptic delivery, output value and simulation.
COEFFS = {"ssc_grid": 0.2, "delay_grid": 0.2, "event": 1.0, "ssc": 1.0, "delay": 1.0, "step": 0.0, "syn": 1e-08,
          "sample": 5e-09, "fixed": 0.001}

# Model -> model whose synapses and rate curve it shares.
BASE_MODEL = {
    "LIF-G": "LIF-G", "LIF-GH": "LIF-GH", "DIF-single-GH": "LIF-GH",
    "HH-G": "HH-G", "HH-GH": "HH-GH", "HH-PT-GH": "HH-GH", "HH-FT-GH": "HH-GH",
    "HH-G-sine": "HH-G", "HH-GH-sine": "HH-GH", "HH-PT-GH-sine": "HH-GH",
    "HH-FT-GH-sine": "HH-GH", "HH-G-extI": "HH-G", "HH-GH-extI": "HH-GH",
}

# Base model -> (E, I) mean conductance per unit of rate x strength (ms): tau for G
# synapses, tau_g * tau_h for GH synapses.
TAU_PRODUCT = {"LIF-G": (2.0, 5.0), "LIF-GH": (1.0, 4.0), "HH-G": (3.0, 7.0),
               "HH-GH": (1.5, 3.5)}

# Base model -> firing rate (1/ms) against mean excitatory conductance (drive).
RATE_CURVE = {
    "LIF-G": {"drive": [0.0, 0.01, 0.0136, 0.02, 0.05, 0.1, 1.0],
              "rate": [0.0, 0.001, 0.005, 0.03, 0.1, 0.2, 0.45]},
    "LIF-GH": {"drive": [0.0, 0.01, 0.0136, 0.02, 0.05, 0.1, 1.0],
               "rate": [0.0, 0.001, 0.005, 0.03, 0.1, 0.2, 0.45]},
    "HH-G": {"drive": [0.0, 0.02, 0.05, 0.1, 1.0], "rate": [0.0, 0.005, 0.05, 0.08, 0.2]},
    "HH-GH": {"drive": [0.0, 0.02, 0.05, 0.1, 1.0], "rate": [0.0, 0.005, 0.05, 0.08, 0.2]},
}
