"""gen_neu command-line options (and --parameter-path INI files) -> validated SimOptions.

Pure standard library (no numpy, no numba) so that ``python -m neunet.sim --help`` stays
light. Everything the reference rejects, and everything neunet does not implement, raises
``SimInputError`` with a one-line message.
"""
from __future__ import annotations

import argparse
import difflib
import functools
import math
import os
import secrets
from dataclasses import dataclass, field

# Models neunet simulates -> methods allowed with them (spec section 2 compatibility table).
SUPPORTED_MODELS = {
    **{m: ("simple", "SSC", "big-delay")
       for m in ("LIF-G", "LIF-GH", "HH-G", "HH-GH", "HH-PT-GH", "HH-FT-GH",
                 "HH-G-sine", "HH-GH-sine", "HH-PT-GH-sine", "HH-FT-GH-sine",
                 "HH-G-extI", "HH-GH-extI")},
    "DIF-single-GH": ("simple", "SSC"),
}
# Models gen_neu has but neunet does not implement.
UNSUPPORTED_MODELS = ("HH-GH-cont-syn", "IF-jump", "Hawkes-GH")
# Method names neunet implements ("auto" is resolved here).
SUPPORTED_METHODS = ("simple", "SSC", "big-delay", "auto")
# Method names gen_neu has but neunet does not implement.
UNSUPPORTED_METHODS = ("SSC-Sparse", "SSC-Sparse2", "big-net-delay", "cont-syn", "IF-jump",
                       "IF-jump-delay")
# Options gen_neu has but neunet does not implement (value-taking).
UNSUPPORTED_OPTIONS = ("tau-g-path", "neuron-const-path", "force-spike-list",
                       "synaptic-net-delay")
# Placeholder standing for the ring network "--", which argparse would swallow.
_RING_TOKEN = "\x00ring"
# Largest value of one --seed word (an unsigned 32-bit integer).
_SEED_MAX = 2**32 - 1


class SimInputError(ValueError):
    """Bad simulator input (options, files); the CLI prints it on one line and exits 2."""


@dataclass
class SimOptions:
    """Validated gen_neu options. Times in ms, rates in 1/ms; paths are None when not given."""

    model: str
    method: str                       # resolved: "simple" | "SSC" | "big-delay"
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
        return int(math.floor((self.t_ms + self.aligned_warmup_ms) / self.dt_ms))

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


def _flag(p, *names, help):
    p.add_argument(*names, action="store_true", default=argparse.SUPPRESS, help=help)


def _opt(p, *names, help, **kw):
    p.add_argument(*names, default=argparse.SUPPRESS, help=help, **kw)


class _Parser(argparse.ArgumentParser):
    """ArgumentParser raising SimInputError instead of printing usage and exiting."""

    def error(self, message):
        raise SimInputError(message)


def _model_options(p):
    """Model, method and quirks."""
    g = p.add_argument_group("model and method")
    _opt(g, "--neuron-model", metavar="M", help="neuron model: " + ", ".join(SUPPORTED_MODELS)
         + " (required)")
    _opt(g, "--simulation-method", metavar="S",
         help="simple, SSC, big-delay or auto (default: big-delay if --synaptic-delay is "
              "given, else SSC)")
    _flag(g, "--reference-quirks", help="reproduce gen_neu's numerical bugs (HH inhibitory "
          "kappa factor, sine end slope, big-delay ignoring weights, ...) for exact matching")


def _network_options(p):
    """Neurons, network file and coupling."""
    g = p.add_argument_group("network")
    _opt(g, "--nE", type=int, metavar="N", help="number of excitatory neurons (default 1)")
    _opt(g, "--nI", type=int, metavar="N", help="number of inhibitory neurons (default 0)")
    _opt(g, "--net", metavar="PATH", help="network: '-' all-to-all, '--' ring, or a text "
         "file with the n x n matrix A (A[i][j]: from j to i) (required)")
    _flag(g, "--sparse-net", help="the --net file holds 'i j a' lines (1-based, "
          "duplicates summed)")
    for name, what in (("scee", "E->E"), ("scie", "E->I"), ("scei", "I->E"),
                       ("scii", "I->I")):
        _opt(g, f"--{name}", type=float, metavar="X", help=f"{what} coupling strength (0)")
    _opt(g, "--synaptic-delay", type=float, metavar="MS", help="constant synaptic delay "
         "(ms, must exceed dt; selects big-delay)")


def _input_options(p):
    """Poisson and file input, external currents."""
    g = p.add_argument_group("external input")
    for name, what in (("pr", "excitatory Poisson rate (1/ms)"),
                       ("ps", "excitatory event strength (also the default strength of "
                              "--input-event-path lines)"),
                       ("pri", "inhibitory Poisson rate (1/ms)"),
                       ("psi", "inhibitory event strength (magnitude)")):
        _opt(g, f"--{name}", type=float, nargs="+", action="extend", metavar="X",
             help=f"{what}, per neuron or one value for all (0)")
    _opt(g, "--seed", nargs="+", action="extend", metavar="V",
         help="unsigned 32-bit integers (C++ seed_seq), or 'auto' (default: legacy seed 1)")
    _opt(g, "--input-event-path", metavar="PATH", help="'id time [strength]' lines used "
         "instead of Poisson input")
    _opt(g, "--current-sine-amp", type=float, metavar="A", help="sine current amplitude "
         "(-sine models)")
    _opt(g, "--current-sine-freq", type=float, metavar="F", help="sine current frequency "
         "(kHz, -sine models)")
    _opt(g, "--extI", type=float, metavar="I", help="constant external current (required "
         "for -extI models)")


def _time_options(p):
    """Time span, step and sampling."""
    g = p.add_argument_group("time")
    _opt(g, "--t", type=float, metavar="MS", help="simulated time after warm-up (1000)")
    _opt(g, "--dt", type=float, metavar="MS", help="time step (0.03125)")
    _opt(g, "--stv", type=float, metavar="MS", help="output sampling interval, a multiple "
         "of dt (default dt)")
    _opt(g, "--t-warming-up", type=float, metavar="MS", help="warm-up time discarded from "
         "the outputs, rounded down to a multiple of dt (0)")


def _neuron_options(p):
    """Neuron parameter overrides."""
    g = p.add_argument_group("neuron")
    _opt(g, "--refractory-time", type=float, metavar="MS", help="refractory period of "
         "LIF-type models (model default)")
    _opt(g, "--set-threshold", type=float, metavar="V", help="spike threshold (model "
         "default)")
    _flag(g, "--no-threshold", help="threshold +inf: no spikes recorded, no LIF reset")
    _opt(g, "--initial-state-path", metavar="PATH", help="initial state: n_var numbers per "
         "neuron in the model's state order")


def _output_options(p):
    """Output files and displays."""
    g = p.add_argument_group("output")
    _opt(g, "-o", "--volt-path", metavar="PATH", help="voltage file (float64 rows of n)")
    _opt(g, "--ras-path", metavar="PATH", help="spike raster 'id<TAB>time' lines")
    _opt(g, "--isi-path", metavar="PATH", help="mean inter-spike intervals T/count")
    _opt(g, "--conductance-path", metavar="PATH", help="conductances (rows gE_1 gI_1 ...)")
    _opt(g, "--ion-gate-path", metavar="PATH", help="gating variables h m n (HH models)")
    _opt(g, "--output-poisson-path", metavar="PATH", help="write the input events used "
         "('id time strength'; replayable with --input-event-path)")
    _flag(g, "--output-first-data-point", help="also write the t = 0 state as first row")
    _flag(g, "-v", "--verbose", help="progress display on stderr")
    _flag(g, "--verbose-echo", help="print the parameters and spike counts on stdout")
    _opt(g, "--parameter-path", metavar="PATH", help="INI file 'name = value' (command "
         "line wins; repeat a key for list options; a flag is 'name=')")
    _flag(g, "--timing", help=argparse.SUPPRESS)


def _unsupported_options(p):
    """gen_neu options that neunet rejects (listed so --help documents them)."""
    g = p.add_argument_group("gen_neu options not supported by neunet (error if given)")
    for name in UNSUPPORTED_OPTIONS:
        _opt(g, f"--{name}", metavar="PATH", help="not supported by neunet")


@functools.lru_cache(maxsize=1)
def build_parser() -> argparse.ArgumentParser:
    """The gen_neu-compatible argument parser (all defaults suppressed; see parse_argv).

    Built once per process (a warm worker slot parses every task's argv; parsing does not
    change the parser)."""
    p = _Parser(prog="neunet-sim", allow_abbrev=False,
                description="Point-neuron network simulator, command-line compatible with "
                            "gen_neu. Times in ms, rates in 1/ms (kHz). List options take "
                            "several values; one value is broadcast to all neurons.",
                epilog="Exit codes: 0 ok, 2 bad input or simulation error (one line on "
                       "stderr), 1 unexpected internal error, 130 interrupted.")
    for add in (_model_options, _network_options, _input_options, _time_options,
                _neuron_options, _output_options, _unsupported_options):
        add(p)
    return p


def _suggest(word, choices):
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.5)
    if not close:
        close = [c for c in choices if c.lower() == word.lower().replace("_", "-")]
    return f" (did you mean {close[0]}?)" if close else ""


def _protect_ring(argv):
    """Replace the ring network value '--' (which argparse swallows) by a placeholder."""
    out = []
    for tok in argv:
        if tok == "--" and out[-1:] == ["--net"]:
            tok = _RING_TOKEN
        out.append("--net=" + _RING_TOKEN if tok == "--net=--" else tok)
    return out


def _parse_tokens(parser, tokens, where):
    known, extra = parser.parse_known_args(tokens)
    if extra:
        bad = extra[0]
        if bad.startswith("-"):
            name = bad.split("=", 1)[0]
            options = [s for a in parser._actions for s in a.option_strings]
            raise SimInputError(f"unknown option {name}{where}{_suggest(name, options)}")
        raise SimInputError(f"unexpected argument {bad!r}{where}")
    return vars(known)


def read_parameter_file(path: str) -> list:
    """Turn an INI parameter file into argv tokens (spec section 2, --parameter-path).

    Parameters
    ----------
    path : str
        File of ``name = value`` lines; ``#`` starts a comment; ``name=`` is a flag.

    Returns
    -------
    list of str
        ``--name value`` tokens in file order.
    """
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise SimInputError(f"cannot read --parameter-path {path}: {e.strerror}") from None
    tokens = []
    for lineno, raw in enumerate(lines, 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if "=" not in line:
            raise SimInputError(f"{path}:{lineno}: expected 'name = value', got {raw.strip()!r}")
        key, value = (s.strip() for s in line.split("=", 1))
        key = key.lstrip("-")
        if value.lower() in ("", "true", "yes", "on", "1") and key in _FLAG_KEYS:
            tokens.append(f"--{key}")
        elif key in _FLAG_KEYS and value.lower() in ("false", "no", "off", "0"):
            continue
        else:
            tokens += [f"--{key}", *value.split()] if key in _LIST_KEYS else [f"--{key}", value]
    return tokens


# INI keys that are flags (no value) and list options (several values on one line allowed).
_FLAG_KEYS = {"sparse-net", "no-threshold", "output-first-data-point", "verbose",
              "verbose-echo", "reference-quirks"}
# Options that take several values.
_LIST_KEYS = {"pr", "ps", "pri", "psi", "seed"}


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
    parser = build_parser()
    given = _parse_tokens(parser, _protect_ring([str(a) for a in argv]), "")
    if "parameter_path" in given:
        ini = _parse_tokens(parser, _protect_ring(read_parameter_file(given["parameter_path"])),
                            f" in {given['parameter_path']}")
        ini.pop("parameter_path", None)
        given = {**ini, **given}
    return _validate(given)


def _check_unsupported(g):
    for name in UNSUPPORTED_OPTIONS:
        if name.replace("-", "_") in g:
            raise SimInputError(f"--{name} is not supported by neunet")


def _resolve_model(g):
    model = g.get("neuron_model")
    if model is None:
        raise SimInputError("missing required option --neuron-model")
    if model in UNSUPPORTED_MODELS:
        raise SimInputError(f"neuron model {model} is not supported by neunet (supported: "
                            f"{', '.join(SUPPORTED_MODELS)})")
    if model not in SUPPORTED_MODELS:
        raise SimInputError(f"unknown neuron model {model!r}"
                            f"{_suggest(model, list(SUPPORTED_MODELS))}")
    return model


def _resolve_method(g, model):
    method = g.get("simulation_method", "auto")
    if method in UNSUPPORTED_METHODS:
        raise SimInputError(f"simulation method {method} is not supported by neunet "
                            f"(supported: {', '.join(SUPPORTED_METHODS)})")
    if method not in SUPPORTED_METHODS:
        raise SimInputError(f"unknown simulation method {method!r}"
                            f"{_suggest(method, list(SUPPORTED_METHODS))}")
    has_delay = "synaptic_delay" in g
    if method == "auto":
        method = "big-delay" if has_delay else "SSC"
    if method not in SUPPORTED_MODELS[model]:
        raise SimInputError(f"model {model} cannot be simulated with method {method} "
                            f"(allowed: {', '.join(SUPPORTED_MODELS[model])})")
    if has_delay and method != "big-delay":
        raise SimInputError(f"--synaptic-delay needs the big-delay method, not {method}")
    if method == "big-delay" and not has_delay:
        raise SimInputError("method big-delay needs --synaptic-delay")
    return method


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
            raise SimInputError(f"--seed takes unsigned 32-bit integers or 'auto', got {w!r}")
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
    net = "--" if net == _RING_TOKEN else net
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
    for name in ("initial_state_path", "input_event_path"):
        if name in g and not os.path.isfile(g[name]):
            raise SimInputError(f"--{name.replace('_', '-')} file {g[name]} not found")


def _validate(g) -> SimOptions:
    _check_unsupported(g)
    model = _resolve_model(g)
    method = _resolve_method(g, model)
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
        delay_ms=g.get("synaptic_delay"),
        initial_state_path=g.get("initial_state_path"),
        input_event_path=g.get("input_event_path"),
        volt_path=g.get("volt_path"), ras_path=g.get("ras_path"),
        isi_path=g.get("isi_path"), conductance_path=g.get("conductance_path"),
        ion_gate_path=g.get("ion_gate_path"), poisson_path=g.get("output_poisson_path"),
        first_row=g.get("output_first_data_point", False), verbose=g.get("verbose", False),
        verbose_echo=g.get("verbose_echo", False), quirks=g.get("reference_quirks", False),
        timing=g.get("timing", False))
