"""Constants of the cost model (`neunet.sweep.cost.time_cost`), written by benchmarks/calibrate_cost.py.

Measured on this engine (2026-11-28, in-process timing of neunet.simulate).
Regenerate with `python benchmarks/calibrate_cost.py --write`.
"""

# Where these numbers come from.
SOURCE = "benchmarks/calibrate_cost.py, 2026-11-28 07:14 UTC, vm"

# Model -> seconds per quiet step of one neuron.
SECONDS_PER_STEP = {
    'LIF-G': 4.999e-08,
    'LIF-GH': 4.957e-08,
    'DIF-single-GH': 5.038e-08,
    'HH-G': 8.978e-08,
    'HH-GH': 6.539e-08,
    'HH-PT-GH': 7.076e-08,
    'HH-FT-GH': 7.276e-08,
    'HH-G-sine': 1.069e-07,
    'HH-GH-sine': 1.41e-07,
    'HH-PT-GH-sine': 1.161e-07,
    'HH-FT-GH-sine': 1.037e-07,
    'HH-G-extI': 6.912e-08,
    'HH-GH-extI': 6.34e-08,
    # issue 15's models, estimated from benchmarks/sim_speed.py (not yet calibrated)
    'HH-GH-cont-syn': 1.5e-07,
    'IF-jump': 1.0e-08,
    'Hawkes-GH': 5.0e-08,
}

# Shared coefficients: ssc_grid/delay_grid (extra per neuron-step of SSC / big-delay) and
# event/ssc/delay are multiples of a quiet step; step, syn, sample and fixed are seconds per
# grid step, synaptic delivery, output value and simulation.
COEFFS = {
    'ssc_grid': 0.5004,
    'delay_grid': 2.315,
    'event': 4.863,
    'ssc': 0.01038,
    'delay': 1.007,
    'step': 1.536e-07,
    'syn': 0.0,
    'sample': 9.851e-09,
    'fixed': 0.0001341,
}

# Base model -> (E, I) mean conductance per unit of rate x strength (ms): tau for G
# synapses, tau_g * tau_h for GH synapses.
TAU_PRODUCT = {
    'LIF-G': (2.0, 5.0),
    'LIF-GH': (1.0, 4.0),
    'HH-G': (3.0, 7.0),
    'HH-GH': (1.5, 3.5),
}

# Base model -> firing rate (1/ms) against mean excitatory conductance (drive), measured.
RATE_CURVE = {
    'LIF-G': {'drive': [0.0, 0.005, 0.01, 0.0125, 0.015, 0.02, 0.03, 0.05, 0.1, 0.2, 0.5, 1.0], 'rate': [0.0, 0.0, 0.0027, 0.012, 0.0235, 0.0433, 0.0753, 0.1235, 0.2034, 0.2875, 0.3807, 0.4304]},
    'LIF-GH': {'drive': [0.0, 0.005, 0.01, 0.0125, 0.015, 0.02, 0.03, 0.05, 0.1, 0.2, 0.5, 1.0], 'rate': [0.0, 0.0, 0.0027, 0.0119, 0.0235, 0.0431, 0.0751, 0.1239, 0.204, 0.2891, 0.3841, 0.4326]},
    'HH-G': {'drive': [0.0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.08, 0.12, 0.2, 0.5, 1.0], 'rate': [0.0, 0.0, 0.0, 0.0, 0.0021, 0.0192, 0.0387, 0.0518, 0.0649, 0.086, 0.086]},
    'HH-GH': {'drive': [0.0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.08, 0.12, 0.2, 0.5, 1.0], 'rate': [0.0, 0.0, 0.0, 0.0, 0.0013, 0.0177, 0.0374, 0.0516, 0.0645, 0.0849, 0.0849]},
}
