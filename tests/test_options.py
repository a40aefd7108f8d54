"""neunet.sim.options: gen_neu argv/INI -> SimOptions, defaults, derived step counts, errors."""
import math

import pytest

from neunet.sim.models import MODELS
from neunet.sim.options import SimInputError, parse_argv

BASE = ["--neuron-model", "HH-GH", "--net", "-"]


def test_defaults_and_auto_method():
    o = parse_argv(BASE)
    assert (o.model, o.method, o.nE, o.nI, o.n) == ("HH-GH", "SSC", 1, 0, 1)
    assert (o.t_ms, o.dt_ms, o.stv_ms, o.t_warmup_ms) == (1000.0, 0.03125, 0.03125, 0.0)
    assert o.seed is None and o.threshold is None and o.refractory_ms is None
    assert parse_argv(BASE + ["--synaptic-delay", "1"]).method == "big-delay"
    assert o.n_steps == 32000 and o.steps_per_sample == 1


def test_equals_form_list_options_and_ring():
    o = parse_argv(["--neuron-model=LIF-GH", "--net=--", "--nE=3", "--nI", "2",
                    "--pr", "1", "2", "--ps=0.5", "--seed", "7", "42", "--scee=0.1"])
    assert o.net == "--" and o.model == "LIF-GH" and o.n == 5
    assert o.per_neuron("pr") == [1.0, 2.0, 0.0, 0.0, 0.0]
    assert o.per_neuron("ps") == [0.5] * 5 and o.ps_given
    assert o.per_neuron("pri") == [0.0] * 5
    assert o.seed == (7, 42) and o.scee == 0.1
    assert parse_argv(["--net", "--", "--neuron-model", "LIF-G"]).net == "--"
    # extra per-neuron values are ignored (reference behaviour)
    assert parse_argv(BASE + ["--pr", "1", "2", "3"]).per_neuron("pr") == [1.0]


def test_negative_values_and_flags():
    o = parse_argv(BASE + ["--set-threshold", "-5", "--extI", "-2.5", "--no-threshold",
                           "--reference-quirks", "--output-first-data-point", "-v",
                           "-o", "v.dat"])
    assert o.threshold == math.inf and o.ext_current == -2.5
    assert o.quirks and o.first_row and o.verbose and o.volt_path == "v.dat"
    assert parse_argv(BASE + ["--set-threshold", "-5"]).threshold == -5.0


def test_step_counts_follow_the_float_rules():
    o = parse_argv(BASE + ["--t", "0.3", "--dt", "0.1", "--stv", "0.1"])
    assert o.n_steps == 2                     # floor(0.3/0.1) in floating point
    o = parse_argv(BASE + ["--t", "20", "--t-warming-up", "5.1", "--dt", "0.25",
                           "--stv", "0.5"])
    assert o.aligned_warmup_ms == 5.0 and o.n_steps == 100 and o.steps_per_sample == 2
    assert parse_argv(BASE + ["--dt", "0.1", "--stv", "0.2"]).steps_per_sample == 2


def test_seed_auto_gives_two_words():
    seed = parse_argv(BASE + ["--seed", "auto"]).seed
    assert len(seed) == 2 and all(0 <= v < 2**32 for v in seed)


def test_parameter_file_and_command_line_precedence(tmp_path):
    ini = tmp_path / "p.ini"
    ini.write_text("# comment\nneuron-model = LIF-G\nnet = -\nnE = 4\npr = 1\npr = 2\n"
                   "ps = 0.1 0.2\nsparse-net=\nt = 50   # trailing comment\n")
    o = parse_argv(["--parameter-path", str(ini), "--t", "20"])
    assert o.model == "LIF-G" and o.nE == 4 and o.sparse_net
    assert o.pr == [1.0, 2.0] and o.ps == [0.1, 0.2] and o.t_ms == 20.0
    bad = tmp_path / "bad.ini"
    bad.write_text("neuron-model HH-GH\n")
    with pytest.raises(SimInputError, match=r"bad.ini:1"):
        parse_argv(["--parameter-path", str(bad)])
    bad.write_text("neuron-modl = HH-GH\n")
    with pytest.raises(SimInputError, match="unknown option --neuron-modl in .*did you mean"):
        parse_argv(["--parameter-path", str(bad)])


@pytest.mark.parametrize("args, message", [
    ([], "missing required option --neuron-model"),
    (["--neuron-model", "HH-GH"], "missing required option --net"),
    (["--neuron-model", "HH-GHH", "--net", "-"], "did you mean HH-GH"),
    (["--neuron-model", "DIF_single_GH", "--net", "-"], "did you mean DIF-single-GH"),
    (["--neuron-model", "Hawkes-GH", "--net", "-"], "needs --simulation-method simple"),
    (["--neuron-model", "Hawkes-GH", "--net", "-", "--simulation-method", "SSC"],
     "cannot be simulated with method SSC"),
    (["--neuron-model", "HH-GH-cont-syn", "--net", "-", "--simulation-method", "simple"],
     "cannot be simulated with method simple"),
    (["--neuron-model", "HH-GH-cont-syn", "--net", "-", "--synaptic-delay", "1"],
     "--synaptic-delay needs a delay method"),
    (["--neuron-model", "IF-jump", "--net", "-", "--simulation-method", "SSC"],
     "cannot be simulated with method SSC"),
    (BASE + ["--simulation-method", "IF-jump"], "cannot be simulated with method IF-jump"),
    (["--neuron-model", "IF-jump", "--net", "-", "--simulation-method", "IF-jump-delay"],
     "needs --synaptic-net-delay or --synaptic-delay"),
    (BASE + ["--simulation-method", "big-net-delay"], "needs --synaptic-net-delay"),
    (BASE + ["--simulation-method", "big-net-delay", "--synaptic-delay", "1"],
     "needs --synaptic-net-delay"),
    (BASE + ["--simulation-method", "big-delay", "--synaptic-delay", "1",
             "--synaptic-net-delay", "x"], "needs method big-net-delay"),
    (BASE + ["--synaptic-net-delay", "x", "--simulation-method", "SSC"],
     "--synaptic-net-delay needs a delay method"),
    (["--neuron-model", "HH-GH-sine", "--net", "-", "--synaptic-net-delay", "x"],
     "cannot be simulated with method big-net-delay"),
    (BASE + ["--simulation-method", "smple"], "did you mean simple"),
    (BASE + ["--tau-g-path", "/no/such/tau"], "--tau-g-path file /no/such/tau not found"),
    (["--neuron-model", "LIF-G", "--net", "-", "--tau-g-path", "x"],
     "--tau-g-path works with models LIF-GH, DIF-single-GH, HH-GH only, not LIF-G"),
    (BASE + ["--neuron-const-path", "x", "--synaptic-delay", "1"],
     "with --synaptic-delay works with model LIF-GH only"),
    (BASE + ["--force-spike-list", "/no/such"], "--force-spike-list file /no/such not found"),
    (BASE + ["--synaptic-net-delay", "/no/such"], "not found"),
    (BASE + ["--nI", "2", "--nI", "2"], "option '--nI' cannot be specified more than once"),
    (BASE + ["--sparse-net", "--sparse-net"], "option '--sparse-net' cannot be"),
    (BASE + ["--s", "1"], "ambiguous option: --s could match --simulation-method, --sparse"),
    (BASE + ["--dt", "0.1", "--stv", "0.3"], "multiple of --dt"),
    (BASE + ["--t", "0"], "--t must be a positive"),
    (BASE + ["--dt", "-1"], "--dt must be a positive"),
    (BASE + ["--stv", "0"], "--stv must be a positive"),
    (BASE + ["--dt", "0.5", "--stv", "0.25"], "must not be smaller"),
    (BASE + ["--t", "1", "--stv", "2", "--dt", "1"], "must not exceed --t"),
    (BASE + ["--t-warming-up", "-1"], "--t-warming-up"),
    (BASE + ["--nE", "0"], "no neurons"),
    (BASE + ["--nE", "-2"], ">= 0"),
    (BASE + ["--nE", "1.5"], "invalid int"),
    (BASE + ["--pr", "-1"], "--pr values must be finite and >= 0"),
    (BASE + ["--psi", "1", "x"], "invalid float value: 'x'"),
    (BASE + ["--pri", "nan"], "--pri values"),
    (BASE + ["--seed", "1.5"], "--seed takes unsigned 32-bit integers"),
    (BASE + ["--seed", str(2**32)], "outside"),
    (BASE + ["--seed", "auto", "3"], "--seed takes"),
    (["--neuron-model", "HH-GH-extI", "--net", "-"], "needs --extI"),
    (BASE + ["--synaptic-delay", "0.03125"], "must be larger than --dt"),
    (BASE + ["--synaptic-delay", "1", "--simulation-method", "simple"],
     "--synaptic-delay needs a delay method .big-delay, big-net-delay or IF-jump-delay"),
    (BASE + ["--simulation-method", "big-delay"], "needs --synaptic-delay"),
    (["--neuron-model", "DIF-single-GH", "--net", "-", "--synaptic-delay", "1"],
     "cannot be simulated with method big-delay"),
    (BASE + ["--scce", "1"], "unknown option --scce"),
    (BASE + ["stray"], "unexpected argument 'stray'"),
    (["--neuron-model", "HH-GH", "--net", "/no/such/net.txt"], "not found"),
    (BASE + ["--input-event-path", "/no/such/ev.txt"], "not found"),
    (BASE + ["--refractory-time", "-1"], "--refractory-time"),
    (BASE + ["--parameter-path", "/no/such.ini"], "cannot read --parameter-path"),
])
def test_errors(args, message):
    with pytest.raises(SimInputError, match=message.replace("(", r"\(").replace("+", r"\+")):
        parse_argv(args)


def test_every_supported_model_parses():
    for model in MODELS:
        extra = ["--extI", "1"] if model.endswith("extI") else []
        extra += ["--simulation-method", "simple"] if model == "Hawkes-GH" else []
        assert parse_argv(["--neuron-model", model, "--net", "-", *extra]).model == model


@pytest.mark.parametrize("model, extra, method", [
    ("HH-GH-cont-syn", [], "cont-syn"),
    ("IF-jump", [], "IF-jump"),
    ("IF-jump", ["--synaptic-delay", "1"], "IF-jump-delay"),
    ("IF-jump", ["--synaptic-net-delay", "NET"], "IF-jump-delay"),
    ("LIF-GH", ["--synaptic-net-delay", "NET"], "big-net-delay"),
    ("LIF-GH", ["--synaptic-net-delay", "NET", "--synaptic-delay", "1"], "big-net-delay"),
    ("HH-GH", ["--synaptic-delay", "1"], "big-delay"),
    ("DIF-single-GH", [], "SSC"),
])
def test_auto_method_as_the_reference(model, extra, method, tmp_path):
    """auto resolves to the method gen_neu chooses (spec section 2)."""
    net = tmp_path / "d.txt"
    net.write_text("0\n")
    extra = [str(net) if a == "NET" else a for a in extra]
    assert parse_argv(["--neuron-model", model, "--net", "-", *extra]).method == method


def test_option_prefixes_and_new_paths(tmp_path):
    """Unambiguous prefixes name their option (Boost does the same); new file options."""
    f = tmp_path / "f.txt"
    f.write_text("1 2\n")
    o = parse_argv(["--neuron-m", "LIF-GH", "--net", "-", "--input-event", str(f),
                    "--tau-g", str(f), "--neuron-const", str(f), "--force-spike", str(f),
                    "--t-warm", "2", "--simulation-method", "SSC-Sparse2"])
    assert o.input_event_path == o.tau_g_path == o.neuron_const_path == str(f)
    assert o.force_spike_path == str(f) and o.t_warmup_ms == 2.0
    assert o.method == "SSC-Sparse2"
