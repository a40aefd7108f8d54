"""gen_neu options -> validated, resolved SimOptions (the checks and defaults of each value).

`parse_argv` reads the given options with `neunet.sim.cli_parser` (argparse definition and
--parameter-path INI files), then checks and resolves them here. Pure standard library (no
numpy, no numba) so that ``python -m neunet.sim --help`` stays light. Everything the
reference rejects, and everything neunet does not implement, raises ``SimInputError`` with
a one-line message.
"""
from __future__ import annotations

import math
import os
import secrets
from dataclasses import dataclass, field

from neunet.sim.cli_parser import RING_TOKEN, SimInputError, parse_given, suggest
from neunet.sim.models import (
    AUTO,
    HETEROGENEOUS,
    METHODS,
    MODELS,
    REFERENCE_ONLY_METHODS,
    REFERENCE_ONLY_MODELS,
    REFERENCE_ONLY_OPTIONS,
)

# Methods that use a synaptic delay option.
_DELAY_METHODS = ("big-delay", "big-net-delay", "IF-jump-delay")
# Largest value of one --seed word (an unsigned 32-bit integer).
_SEED_MAX = 2**32 - 1


@dataclass
class SimOptions:
    """Validated gen_neu options. Times in ms, rates in 1/ms; paths are None when not given."""

    model: str
    method: str                       # resolved (never "auto"): one of models.METHODS
    net: str                          # "-" (all-to-all), "--" (ring) or a file path
    nE: int = 1
    nI: int = 0
    sparse_net: bool = False
    scee: float = 0.0
    scie: float = 0.0
    scei: float = 0.0
    scii: float = 0.0
    pr: list = field(default_factory=lambda: [0.0])
    ps: list = field(default_factory=lambda: [0.0])
    pri: list = field(default_factory=lambda: [0.0])
    psi: list = field(default_factory=lambda: [0.0])
    ps_given: bool = False            # --ps was given (default strength of file events)
    seed: tuple | None = None         # None: the legacy seed 1; else the seed_seq words
    t_ms: float = 1000.0
    dt_ms: float = 0.03125
    stv_ms: float = 0.03125
    t_warmup_ms: float = 0.0          # as given; see aligned_warmup_ms
    refractory_ms: float | None = None
    threshold: float | None = None    # +inf with --no-threshold
    sine_amp: float = 0.0
    sine_freq_khz: float = 0.0
    ext_current: float | None = None
    delay_ms: float | None = None
    net_delay_path: str | None = None     # --synaptic-net-delay
    tau_g_path: str | None = None
    neuron_const_path: str | None = None
    force_spike_path: str | None = None   # --force-spike-list
    initial_state_path: str | None = None
    input_event_path: str | None = None
    volt_path: str | None = None
    ras_path: str | None = None
    isi_path: str | None = None
    conductance_path: str | None = None
    ion_gate_path: str | None = None
    poisson_path: str | None = None
    first_row: bool = False
    verbose: bool = False
    verbose_echo: bool = False
    quirks: bool = False
    timing: bool = False

    @property
    def n(self) -> int:
        """Number of neurons nE + nI."""
        return self.nE + self.nI

    @property
    def is_hh(self) -> bool:
        """True for Hodgkin-Huxley models (the only ones with an ion-gate file)."""
        return "HH" in self.model

    @property
    def aligned_warmup_ms(self) -> float:
        """Warm-up rounded down to a multiple of dt (spec section 10)."""
        return math.floor(self.t_warmup_ms / self.dt_ms) * self.dt_ms

    @property
    def n_steps(self) -> int:
        """floor((T + t_w)/dt) evaluated in floating point, as the reference does."""
        return math.floor((self.t_ms + self.aligned_warmup_ms) / self.dt_ms)

    @property
    def steps_per_sample(self) -> int:
        """m = int(stv/dt + 0.1)."""
        return int(self.stv_ms / self.dt_ms + 0.1)

    def per_neuron(self, name: str) -> list:
        """Broadcast list option `name` (pr, ps, pri, psi) to n values (spec section 2)."""
        values = getattr(self, name)
        if len(values) == 1:
            return values * self.n
        return (list(values) + [0.0] * self.n)[: self.n]


def parse_argv(argv) -> SimOptions:
    """Parse and validate gen_neu arguments.

    Parameters
    ----------
    argv : sequence of str
        Arguments without the program name.

    Returns
    -------
    SimOptions

    Raises
    ------
    SimInputError
        For every invalid or unsupported input (one-line message).
    SystemExit
        For ``--help`` (exit code 0, help on stdout).
    """
    return _validate(parse_given(argv))


def _check_unsupported(g):
    for name in REFERENCE_ONLY_OPTIONS:
        if name.replace("-", "_") in g:
            raise SimInputError(f"--{name} is not supported by neunet")


def _resolve_model(g):
    model = g.get("neuron_model")
    if model is None:
        raise SimInputError("missing required option --neuron-model")
    if model in REFERENCE_ONLY_MODELS:
        raise SimInputError(f"neuron model {model} is not supported by neunet (supported: "
                            f"{', '.join(MODELS)})")
    if model not in MODELS:
        raise SimInputError(f"unknown neuron model {model!r}"
                            f"{suggest(model, list(MODELS))}")
    return model


def _auto_method(model, has_delay, has_net):
    """The method gen_neu chooses for `auto` (spec section 2)."""
    if model == "HH-GH-cont-syn":
        return "cont-syn"
    if model == "IF-jump":
        return "IF-jump-delay" if has_delay or has_net else "IF-jump"
    if model == "Hawkes-GH":
        raise SimInputError("model Hawkes-GH needs --simulation-method simple (its only "
                            "method; gen_neu does not choose it by itself)")
    if has_net:
        return "big-net-delay"
    return "big-delay" if has_delay else "SSC"


def _resolve_method(g, model):
    method = g.get("simulation_method", AUTO)
    if method in REFERENCE_ONLY_METHODS:
        raise SimInputError(f"simulation method {method} is not supported by neunet "
                            f"(supported: {', '.join(METHODS + (AUTO,))})")
    if method not in METHODS + (AUTO,):
        raise SimInputError(f"unknown simulation method {method!r}"
                            f"{suggest(method, list(METHODS + (AUTO,)))}")
    has_delay, has_net = "synaptic_delay" in g, "synaptic_net_delay" in g
    if method == AUTO:
        method = _auto_method(model, has_delay, has_net)
    if method not in MODELS[model].methods:
        raise SimInputError(f"model {model} cannot be simulated with method {method} "
                            f"(allowed: {', '.join(MODELS[model].methods)})")
    _check_delay_options(method, has_delay, has_net)
    return method


def _check_delay_options(method, has_delay, has_net):
    """The delay options a method needs, and those it cannot use."""
    if method == "big-delay" and has_net:
        raise SimInputError("--synaptic-net-delay needs method big-net-delay, not big-delay")
    if method == "big-delay" and not has_delay:
        raise SimInputError("method big-delay needs --synaptic-delay")
    if method == "big-net-delay" and not has_net:
        raise SimInputError("method big-net-delay needs --synaptic-net-delay")
    if method == "IF-jump-delay" and not (has_delay or has_net):
        raise SimInputError("method IF-jump-delay needs --synaptic-net-delay or "
                            "--synaptic-delay")
    if method not in _DELAY_METHODS and (has_delay or has_net):
        name = "--synaptic-net-delay" if has_net else "--synaptic-delay"
        raise SimInputError(f"{name} needs a delay method (big-delay, big-net-delay or "
                            f"IF-jump-delay), not {method}")


def _check_heterogeneous(g, model):
    """--tau-g-path / --neuron-const-path: the models and delays gen_neu allows them with."""
    given = [f"--{n.replace('_', '-')}" for n in ("tau_g_path", "neuron_const_path") if n in g]
    if not given:
        return
    if model not in HETEROGENEOUS:
        raise SimInputError(f"{given[0]} works with models {', '.join(HETEROGENEOUS)} only, "
                            f"not {model}")
    if "synaptic_delay" in g and "synaptic_net_delay" not in g and model != "LIF-GH":
        raise SimInputError(f"{given[0]} with --synaptic-delay works with model LIF-GH "
                            f"only, not {model}")


def _check_times(t, dt, stv, tw):
    for name, v in (("--t", t), ("--dt", dt), ("--stv", stv)):
        if not (math.isfinite(v) and v > 0):
            raise SimInputError(f"{name} must be a positive number, got {v:g}")
    if not (math.isfinite(tw) and tw >= 0):
        raise SimInputError(f"--t-warming-up must be >= 0, got {tw:g}")
    if dt > stv:
        raise SimInputError(f"--stv ({stv:g}) must not be smaller than --dt ({dt:g})")
    if stv > t:
        raise SimInputError(f"--stv ({stv:g}) must not exceed --t ({t:g})")
    if stv / math.floor(stv / dt + 0.5) != dt:
        raise SimInputError(f"--stv ({stv!r}) must be a multiple of --dt ({dt!r}): "
                            f"stv/round(stv/dt) == dt must hold exactly in floating point")


def _check_list(g, name):
    values = g.get(name, [0.0])
    for v in values:
        if not math.isfinite(v) or v < 0:
            raise SimInputError(f"--{name} values must be finite and >= 0, got {v:g}")
    return list(values)


def _parse_seed(g):
    words = g.get("seed")
    if words is None:
        return None
    if words == ["auto"]:
        return tuple(secrets.randbits(32) for _ in range(2))
    seed = []
    for w in words:
        try:
            v = int(w, 10)
        except ValueError:
            raise SimInputError(
                f"--seed takes unsigned 32-bit integers or 'auto', got {w!r}") from None
        if not 0 <= v <= _SEED_MAX:
            raise SimInputError(f"--seed value {v} is outside 0..{_SEED_MAX}")
        seed.append(v)
    return tuple(seed)


def _check_network(g):
    nE, nI = g.get("nE", 1), g.get("nI", 0)
    if nE < 0 or nI < 0:
        raise SimInputError(f"--nE and --nI must be >= 0, got {nE} and {nI}")
    if nE + nI == 0:
        raise SimInputError("no neurons: --nE + --nI must be at least 1")
    net = g.get("net")
    if net is None:
        raise SimInputError("missing required option --net (a file, '-' or '--')")
    net = "--" if net == RING_TOKEN else net
    if net not in ("-", "--") and not os.path.isfile(net):
        raise SimInputError(f"network file {net} not found")
    for name in ("scee", "scie", "scei", "scii"):
        if not math.isfinite(g.get(name, 0.0)):
            raise SimInputError(f"--{name} must be finite")
    return nE, nI, net


def _check_model_extras(g, model, dt):
    if model.endswith("-extI") and "extI" not in g:
        raise SimInputError(f"model {model} needs --extI (the external current)")
    delay = g.get("synaptic_delay")
    if delay is not None and not (math.isfinite(delay) and delay > dt):
        raise SimInputError(f"--synaptic-delay ({delay:g}) must be larger than --dt ({dt:g})")
    for name in ("refractory_time", "set_threshold", "current_sine_amp",
                 "current_sine_freq", "extI"):
        if name in g and not math.isfinite(g[name]):
            raise SimInputError(f"--{name.replace('_', '-')} must be finite")
    if g.get("refractory_time", 0.0) < 0:
        raise SimInputError("--refractory-time must be >= 0")
    for name in ("initial_state_path", "input_event_path", "synaptic_net_delay", "tau_g_path",
                 "neuron_const_path", "force_spike_list"):
        if name in g and not os.path.isfile(g[name]):
            raise SimInputError(f"--{name.replace('_', '-')} file {g[name]} not found")


def _validate(g) -> SimOptions:
    _check_unsupported(g)
    model = _resolve_model(g)
    method = _resolve_method(g, model)
    _check_heterogeneous(g, model)
    t, dt = g.get("t", 1000.0), g.get("dt", 0.03125)
    stv, tw = g.get("stv", dt), g.get("t_warming_up", 0.0)
    _check_times(t, dt, stv, tw)
    nE, nI, net = _check_network(g)
    _check_model_extras(g, model, dt)
    threshold = math.inf if g.get("no_threshold") else g.get("set_threshold")
    return SimOptions(
        model=model, method=method, net=net, nE=nE, nI=nI,
        sparse_net=g.get("sparse_net", False),
        scee=g.get("scee", 0.0), scie=g.get("scie", 0.0), scei=g.get("scei", 0.0),
        scii=g.get("scii", 0.0),
        pr=_check_list(g, "pr"), ps=_check_list(g, "ps"), pri=_check_list(g, "pri"),
        psi=_check_list(g, "psi"), ps_given="ps" in g, seed=_parse_seed(g),
        t_ms=t, dt_ms=dt, stv_ms=stv, t_warmup_ms=tw,
        refractory_ms=g.get("refractory_time"), threshold=threshold,
        sine_amp=g.get("current_sine_amp", 0.0),
        sine_freq_khz=g.get("current_sine_freq", 0.0), ext_current=g.get("extI"),
        delay_ms=g.get("synaptic_delay"), net_delay_path=g.get("synaptic_net_delay"),
        tau_g_path=g.get("tau_g_path"), neuron_const_path=g.get("neuron_const_path"),
        force_spike_path=g.get("force_spike_list"),
        initial_state_path=g.get("initial_state_path"),
        input_event_path=g.get("input_event_path"),
        volt_path=g.get("volt_path"), ras_path=g.get("ras_path"),
        isi_path=g.get("isi_path"), conductance_path=g.get("conductance_path"),
        ion_gate_path=g.get("ion_gate_path"), poisson_path=g.get("output_poisson_path"),
        first_row=g.get("output_first_data_point", False), verbose=g.get("verbose", False),
        verbose_echo=g.get("verbose_echo", False), quirks=g.get("reference_quirks", False),
        timing=g.get("timing", False))
