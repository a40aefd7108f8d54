"""neunet.sim.cli_parser: the gen_neu argparse definition, INI files, argv -> given options."""
import pytest

from neunet.sim.cli_parser import (RING_TOKEN, SimInputError, build_parser, parse_given,
                                   read_parameter_file)


def test_parse_given_keeps_only_given_options_unresolved():
    assert parse_given(["--neuron-model", "HH-GH", "--net", "--", "--pr", "1", "2"]) == {
        "neuron_model": "HH-GH", "net": RING_TOKEN, "pr": [1.0, 2.0]}
    assert parse_given(["--net=--", "--simulation-method", "auto"]) == {
        "net": RING_TOKEN, "simulation_method": "auto"}
    with pytest.raises(SimInputError, match=r"unknown option --scce \(did you mean --sc"):
        parse_given(["--scce", "1"])


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
