"""The gen_neu command line's definition: the argparse parser, INI files, argv -> given options.

`parse_given` turns argv (and a --parameter-path INI file, whose keys the command line
overrides) into the dict of options actually given, keyed by argparse destination; the
values are typed but not yet checked or resolved (that is `neunet.sim.options`). The help
text lists the model table of `neunet.sim.models`. Pure standard
library (no numpy, no numba) so that ``python -m neunet.sim --help`` stays light.
"""
from __future__ import annotations

import argparse
import difflib
import functools

from neunet.sim.models import MODELS, REFERENCE_ONLY_OPTIONS

# Placeholder standing for the ring network "--", which argparse would swallow.
RING_TOKEN = "\x00ring"


class SimInputError(ValueError):
    """Bad simulator input (options, files); the CLI prints it on one line and exits 2."""


class RepeatedOptionError(SimInputError):
    """An option other than a list option given twice in one source, as gen_neu refuses."""


def _refuse_repeat(action, namespace):
    if hasattr(namespace, action.dest):         # defaults are suppressed: given before
        name = max(action.option_strings, key=len)
        raise RepeatedOptionError(f"option '{name}' cannot be specified more than once")


class _StoreOnce(argparse._StoreAction):
    """argparse's store, refusing a second occurrence."""

    def __call__(self, parser, namespace, values, option_string=None):
        _refuse_repeat(self, namespace)
        super().__call__(parser, namespace, values, option_string)


class _StoreTrueOnce(argparse._StoreTrueAction):
    """argparse's store_true, refusing a second occurrence."""

    def __call__(self, parser, namespace, values, option_string=None):
        _refuse_repeat(self, namespace)
        super().__call__(parser, namespace, values, option_string)


def _flag(p, *names, help):
    p.add_argument(*names, action=_StoreTrueOnce, default=argparse.SUPPRESS, help=help)


def _opt(p, *names, help, **kw):
    kw.setdefault("action", _StoreOnce)
    p.add_argument(*names, default=argparse.SUPPRESS, help=help, **kw)


class _Parser(argparse.ArgumentParser):
    """ArgumentParser raising SimInputError instead of printing usage and exiting."""

    def error(self, message):
        raise SimInputError(message)


def _model_options(p):
    """Model, method and quirks."""
    g = p.add_argument_group("model and method")
    _opt(g, "--neuron-model", metavar="M", help="neuron model: " + ", ".join(MODELS)
         + " (required)")
    _opt(g, "--simulation-method", metavar="S",
         help="simple, SSC, SSC-Sparse, SSC-Sparse2, big-delay, big-net-delay, cont-syn, "
              "IF-jump, IF-jump-delay or auto (default; HH-GH-cont-syn: cont-syn; IF-jump: "
              "IF-jump-delay with a delay option, else IF-jump; otherwise big-net-delay with "
              "--synaptic-net-delay, big-delay with --synaptic-delay, else SSC)")
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
         "(ms, must exceed dt; selects big-delay, or IF-jump-delay)")
    _opt(g, "--synaptic-net-delay", metavar="PATH", help="delay of every synapse (ms): an "
         "n x n text matrix oriented like --net, or, after a first line '# sparse', 'i j "
         "delay' lines; only entries where the net has an edge are used (big-net-delay, "
         "IF-jump-delay)")


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
    _opt(g, "--tau-g-path", metavar="PATH", help="per-neuron conductance time constants: "
         "tau_gE_s1 tau_gE tau_gI_s1 tau_gI for each neuron (LIF-GH, DIF-single-GH, HH-GH)")
    _opt(g, "--neuron-const-path", metavar="PATH", help="per-neuron model constants, all of "
         "them for each neuron in the model's order (docs/simulator.md; LIF-GH 11, "
         "DIF-single-GH 12, HH-GH 13 values)")
    _opt(g, "--force-spike-list", metavar="PATH", help="'id time' lines: reset neuron id at "
         "the start of the step holding time (no raster line, no synaptic effect)")


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
    if not REFERENCE_ONLY_OPTIONS:
        return
    g = p.add_argument_group("gen_neu options not supported by neunet (error if given)")
    for name in REFERENCE_ONLY_OPTIONS:
        _opt(g, f"--{name}", metavar="PATH", help="not supported by neunet")


@functools.lru_cache(maxsize=1)
def build_parser() -> argparse.ArgumentParser:
    """The gen_neu-compatible argument parser (all defaults suppressed; see parse_argv).

    Built once per process (a warm worker slot parses every task's argv; parsing does not
    change the parser)."""
    p = _Parser(prog="neunet-sim", allow_abbrev=True,
                description="Point-neuron network simulator, command-line compatible with "
                            "gen_neu. Times in ms, rates in 1/ms (kHz). List options take "
                            "several values; one value is broadcast to all neurons.",
                epilog="Options may be abbreviated to any unambiguous prefix (--input-event "
                       "for --input-event-path); a single-valued option may be given once. "
                       "Exit codes: 0 ok, 2 bad input or simulation error (one line on "
                       "stderr), 1 unexpected internal error, 130 interrupted.")
    for add in (_model_options, _network_options, _input_options, _time_options,
                _neuron_options, _output_options, _unsupported_options):
        add(p)
    return p


def suggest(word, choices) -> str:
    """Return ``" (did you mean x?)"`` for the closest choice, or ``""``."""
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.5)
    if not close:
        close = [c for c in choices if c.lower() == word.lower().replace("_", "-")]
    return f" (did you mean {close[0]}?)" if close else ""


def _protect_ring(argv):
    """Replace the ring network value '--' (which argparse swallows) by a placeholder."""
    out = []
    for tok in argv:
        if tok == "--" and out[-1:] == ["--net"]:
            tok = RING_TOKEN
        out.append("--net=" + RING_TOKEN if tok == "--net=--" else tok)
    return out


def _parse_tokens(parser, tokens, where):
    fast = _fast_parse(tokens)
    if fast is not None:
        return fast
    try:
        known, extra = parser.parse_known_args(tokens)
    except RepeatedOptionError as e:
        raise RepeatedOptionError(f"{e}{where}") from None
    if extra:
        bad = extra[0]
        if bad.startswith("-"):
            name = bad.split("=", 1)[0]
            options = [s for a in parser._actions for s in a.option_strings]
            raise SimInputError(f"unknown option {name}{where}{suggest(name, options)}")
        raise SimInputError(f"unexpected argument {bad!r}{where}")
    return vars(known)


@functools.lru_cache(maxsize=1)
def _plain_actions() -> dict:
    """Option string -> argparse action, for the store, extend and store_true options."""
    plain = (argparse._StoreAction, argparse._ExtendAction, argparse._StoreTrueAction)
    return {s: a for a in build_parser()._actions if isinstance(a, plain)
            for s in a.option_strings}


def _fast_parse(tokens):
    """What argparse would return for an argv of plain ``--name value``, ``--name=value``,
    ``--name v1 v2`` and ``--flag`` tokens (as neunet.params.argv writes them), else None.

    argparse spends ~15 us per option; a warm worker slot parses every tiny task's argv.
    Anything unusual (an unknown or abbreviated name, a value starting with '-', a bad
    value) returns None, and argparse then parses the tokens and words the errors.
    """
    table, given, i = _plain_actions(), {}, 0
    while i < len(tokens):
        name, eq, inline = tokens[i].partition("=")
        action = table.get(name) if tokens[i].startswith("-") else None
        if action is None or (eq and not name.startswith("--")) or \
                (action.dest in given and not isinstance(action, argparse._ExtendAction)):
            return None                        # (argparse refuses a repeated option)
        j = i + 1
        while j < len(tokens) and not tokens[j].startswith("-"):
            j += 1
        values = [inline] if eq else tokens[i + 1:j]
        i = i + 1 if eq else j
        if action.nargs == 0:
            if eq or values:
                return None
            given[action.dest] = True
            continue
        if not values or (action.nargs is None and len(values) != 1) or \
                action.nargs not in (None, "+") or action.choices is not None:
            return None
        try:
            typed = [action.type(v) if action.type else v for v in values]
        except (TypeError, ValueError):
            return None
        if isinstance(action, argparse._ExtendAction):
            given[action.dest] = given.get(action.dest, []) + typed
        elif action.nargs is None:
            given[action.dest] = typed[0]
        else:
            return None
    return given


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


def parse_given(argv) -> dict:
    """The options given in `argv` (and its --parameter-path file; argv wins), unchecked.

    Parameters
    ----------
    argv : sequence of str
        Arguments without the program name.

    Returns
    -------
    dict
        argparse destination (``neuron_model``, ``t_warming_up``, ...) -> typed value, only
        for options given; the ring network ``--`` is `RING_TOKEN`.

    Raises
    ------
    SimInputError
        For unknown options, stray arguments, values of the wrong type, an unreadable file.
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
    return given
