"""neunet.sim.cli_parser: the gen_neu argparse definition, INI files, argv -> given options."""
import pytest

from neunet.sim.cli_parser import (
    RING_TOKEN,
    SimInputError,
    build_parser,
    parse_given,
    read_parameter_file,
)


def test_parse_given_keeps_only_given_options_unresolved():
    assert parse_given(["--neuron-model", "HH-GH", "--net", "--", "--pr", "1", "2"]) == {
        "neuron_model": "HH-GH", "net": RING_TOKEN, "pr": [1.0, 2.0]}
    assert parse_given(["--net=--", "--simulation-method", "auto"]) == {
        "net": RING_TOKEN, "simulation_method": "auto"}
    with pytest.raises(SimInputError, match=r"unknown option --scce \(did you mean --sc"):
        parse_given(["--scce", "1"])


@pytest.mark.parametrize("argv, name", [
    (["--nI", "20", "--nI", "20"], "--nI"), (["--nI=20", "--nE", "2", "--nI", "3"], "--nI"),
    (["--sparse-net", "--net", "-", "--sparse-net"], "--sparse-net"),
    (["-o", "a", "--volt-path", "b"], "--volt-path")])
def test_an_option_given_twice_is_refused_as_gen_neu_does(argv, name):
    with pytest.raises(SimInputError,
                       match=f"^option '{name}' cannot be specified more than once$"):
        parse_given(argv)


def test_list_options_may_repeat_and_the_command_line_overrides_the_ini(tmp_path):
    assert parse_given(["--pr", "1", "--pr", "2", "--seed", "3", "--seed", "4"]) == {
        "pr": [1.0, 2.0], "seed": ["3", "4"]}
    ini = tmp_path / "p.ini"
    ini.write_text("t = 10\npr = 1\npr = 2\n")
    assert parse_given(["--parameter-path", str(ini), "--t", "5"]) == {
        "t": 5.0, "pr": [1.0, 2.0], "parameter_path": str(ini)}
    ini.write_text("t = 10\nt = 20\n")
    with pytest.raises(SimInputError, match="option '--t' cannot be specified more than "
                                            f"once in {ini}$"):
        parse_given(["--parameter-path", str(ini)])


def test_read_parameter_file_tokens(tmp_path):
    ini = tmp_path / "p.ini"
    ini.write_text("# comment\nneuron-model = LIF-G\nnet = -\nnE = 4\npr = 1\npr = 2\n"
                   "ps = 0.1 0.2\nsparse-net=\nno-threshold = off\nt = 50   # trailing comment\n")
    assert read_parameter_file(str(ini)) == [
        "--neuron-model", "LIF-G", "--net", "-", "--nE", "4", "--pr", "1", "--pr", "2",
        "--ps", "0.1", "0.2", "--sparse-net", "--t", "50"]


def test_help_mentions_every_gen_neu_flag():
    text = build_parser().format_help()
    for flag in ("--neuron-model", "--simulation-method", "--net", "--sparse-net", "--nE",
                 "--nI", "--scee", "--scie", "--scei", "--scii", "--pr", "--ps", "--pri",
                 "--psi", "--seed", "--t", "--dt", "--stv", "--t-warming-up",
                 "--refractory-time", "--set-threshold", "--no-threshold",
                 "--initial-state-path", "--input-event-path", "--parameter-path",
                 "--current-sine-amp", "--current-sine-freq", "--extI", "--synaptic-delay",
                 "--volt-path", "--ras-path", "--isi-path", "--conductance-path",
                 "--ion-gate-path", "--output-poisson-path", "--output-first-data-point",
                 "--verbose", "--verbose-echo", "--reference-quirks", "--tau-g-path"):
        assert flag in text, flag
    assert "--timing" not in text


def _argparse_given(tokens):
    """What the argparse path gives: the dict, or None if it reports extras or an error."""
    from neunet.sim.cli_parser import build_parser
    try:
        known, extra = build_parser().parse_known_args(tokens)
    except SimInputError:
        return None
    return None if extra else vars(known)


# Token pieces the random argvs are built from (valid, odd and invalid ones).
_PIECES = [["--t", "5"], ["--t=7.5"], ["--dt", "0.1"], ["--nE", "3"], ["--nE", "x"],
           ["--pr", "1", "2"], ["--pr", "0.5"], ["--pr=3"], ["--seed", "auto"],
           ["--seed", "1", "2"], ["--scee", "-0.5"], ["--sparse-net"], ["--sparse-net=1"],
           ["-o", "v.dat"], ["--volt-path=a=b"], ["--net", "-"], ["--net=-"], ["--n", "3"],
           ["--bogus", "1"], ["stray"], ["-v"], ["--verbose", "x"], ["--ps"], ["--t"],
           ["--neuron-model", "HH-GH"], ["--reference-quirks"], ["--psi", "1", "--psi", "2"],
           ["--t", "inf"], ["--stv", ""], ["-"], ["--timing"]]


def test_fast_parse_agrees_with_argparse_or_defers():
    """The fast path of parse_given returns exactly argparse's result, or None (argparse
    then parses); neunet's own argv takes the fast path."""
    import random

    from neunet import params
    from neunet.params.argv import to_argv
    from neunet.sim.cli_parser import _fast_parse, _protect_ring
    rng = random.Random(7)
    deferred = 0
    for _ in range(3000):
        tokens = [t for piece in rng.sample(_PIECES, rng.randint(1, 6)) for t in piece]
        fast = _fast_parse(tokens)
        if fast is None:
            deferred += 1
        else:
            assert fast == _argparse_given(tokens), tokens
    assert 300 < deferred < 2900
    for n, seed, pr in [(1, None, 0.1), (3, [4, 5], [1, 2, 3]), (2, "auto", 2.0)]:
        pm = params.parameters()
        pm.update(nE=n, nI=0, t=10.0, seed=seed, pr=pr)
        tokens = _protect_ring(to_argv(pm))
        assert _fast_parse(tokens) is not None
        assert _fast_parse(tokens) == _argparse_given(tokens)
