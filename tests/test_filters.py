"""Tests of neunet.analysis.filters: schema validation, keep decisions, data reduction."""
import math
from pathlib import Path

import msgpack
import numpy as np
import pytest

from neunet.analysis.filters import FilterError, apply_filter, compile_filter
from neunet.result import Result
from neunet.store.npz import encode_arrays

PM = {"neuron-model": "HH-GH", "pr": 0.2, "ps": 0.01, "t": 1000.0, "nE": 3, "nI": 1,
      "stv": 0.5, "dt": 0.5}


def _result(rate_hz=20.0, n=4, t_ms=1000.0, stv=0.5, seed=0):
    rng = np.random.default_rng(seed)
    spikes = []
    for nid in range(1, n + 1):
        times = np.sort(rng.uniform(0, t_ms, int(rate_hz * t_ms / 1000)))
        spikes += [(nid, t) for t in times]
    ras = np.array(sorted(spikes, key=lambda s: s[1]), dtype=float)
    k = int(t_ms / stv)
    arrays = {"volt": rng.normal(size=(n, k)), "ras": ras, "isi": np.full(n, 1000 / rate_hz)}
    return Result.from_arrays(arrays, pm=dict(PM, t=t_ms, stv=stv, nE=n, nI=0))


def test_no_filter_keeps_everything_with_all_stats():
    assert compile_filter(None) is None
    res = _result()
    summary, kept = apply_filter(None, res, res.pm)
    assert set(summary) == {"mean_rate", "cv_isi", "fano", "chi", "v_mean", "v_std", "n_spikes"}
    assert summary["mean_rate"] == pytest.approx(20.0)
    assert np.array_equal(kept["volt"], res.volt) and np.array_equal(kept["ras"], res.ras)
    assert kept["pn_rate_hz"].shape == (4,)


def test_predicate_keeps_and_drops():
    spec = compile_filter({"keep_if": "mean_rate > 5 and cv_isi < 1.5"})
    summary, kept = apply_filter(spec, _result(rate_hz=20), PM)
    assert kept is not None and summary["mean_rate"] > 5
    summary, kept = apply_filter(spec, _result(rate_hz=2), PM)
    assert kept is None and summary["mean_rate"] == pytest.approx(2.0)  # summary still there


def test_predicate_over_parameters_and_string_shorthand():
    spec = compile_filter("neuron_model == 'HH-GH' and pr < 0.4 and n == 4")
    assert apply_filter(spec, _result(), dict(PM))[1] is not None
    assert apply_filter(spec, _result(), dict(PM, pr=0.5))[1] is None
    assert apply_filter(spec, _result(), dict(PM, **{"neuron-model": "LIF-G"}))[1] is None


@pytest.mark.parametrize("expr, expected", [
    ("1 + 2 * 3 == 7", True), ("2 ** 3 - 1 > 6", True), ("7 // 2 == 3 and 7 % 2 == 1", True),
    ("0 < mean_rate < 100", True), ("0 < mean_rate < 10", False), ("not mean_rate > 5", False),
    ("mean_rate < 5 or v_std > 0", True), ("-mean_rate < 0", True),
    ("mean_rate / 0 > 1", False), ("(mean_rate - 20) * 0 == 0", True),
    ("True and 'a' != 'b'", True), ("chi != chi", False),
])
def test_expression_semantics(expr, expected):
    spec = compile_filter({"keep_if": expr})
    assert (apply_filter(spec, _result(rate_hz=20), PM)[1] is not None) is expected


def test_nan_statistic_never_satisfies_a_comparison():
    spec = compile_filter({"keep_if": "cv_isi < 100"})
    silent = Result.from_arrays({"volt": np.zeros((2, 10)), "ras": np.zeros((0, 2))},
                                pm=dict(PM, nE=2, nI=0))
    summary, kept = apply_filter(spec, silent, silent.pm)
    assert math.isnan(summary["cv_isi"]) and kept is None


def test_unknown_names_refused_at_compile_time_when_params_known():
    with pytest.raises(FilterError, match=r"column 19: unknown name 'prr' \(did you mean 'pr'"):
        compile_filter({"keep_if": "mean_rate > 1 and prr < 2"}, param_names=PM)
    spec = compile_filter({"keep_if": "neuron_model == 'HH-GH'"}, param_names=PM)
    assert spec["tree"] == ["cmp", ["=="], ["name", "neuron_model", 1], ["const", "HH-GH"]]
    with pytest.raises(FilterError, match="column 19: unknown name 'rate'"):
        compile_filter("mean_rate > 1 and rate < 2")
    with pytest.raises(FilterError, match="unknown name 'prr'"):  # without names: on apply
        apply_filter(compile_filter("prr < 2", param_names=None), _result(), PM)
    with pytest.raises(FilterError, match=r"column 1: unknown name 'neuron_mode' .did you mean"):
        compile_filter("neuron_mode == 'HH-GH'")  # default: the names of parameters()
    assert compile_filter("neuron_model == 'HH-GH' and t_warming_up == 0 and n > 1")
    with pytest.raises(FilterError, match="not in stats"):
        compile_filter({"stats": ["mean_rate"], "keep_if": "chi > 0.5"})


@pytest.mark.parametrize("bad, what", [
    ({"keep_iff": "x"}, "unknown filter key 'keep_iff' .did you mean 'keep_if'"),
    ({"stats": ["mean_rat"]}, "unknown statistic 'mean_rat' .did you mean 'mean_rate'"),
    ({"stats": "mean_rate"}, "stats must be a list"),
    ({"keep": ["volts"]}, "cannot keep 'volts' .did you mean 'volt'"),
    ({"keep": []}, "at least one array"),
    ({"neurons": [0]}, "1-based"), ({"neurons": []}, "at least one"),
    ({"window_ms": [5, 1]}, "below end"), ({"window_ms": 3}, r"\[start, end\]"),
    ({"downsample": 0}, "positive integer"), ({"downsample": 1.5}, "positive integer"),
    ({"fano_window_ms": -1}, "positive number"), ({"keep_if": ""}, "non-empty"),
    ({"keep_if": "1 +\n 2"}, "single line"), (42, "must be a dict"),
    ({"keep_if": "2 ** 100000 > 1"}, "constant overflows"),
    ({"keep_if": "((9**999)**999)**999 > mean_rate"}, "constant overflows"),
    ({"keep_if": "2**((9**999)**5) > 1"}, "constant overflows"),
    ({"keep_if": "mean_rate < 18446744073709551616"}, "column 13: the integer .* too large"),
    ({"keep_if": "mean_rate < 9223372036854775808"}, "below 2\\*\\*63"),
])
def test_bad_filters_are_refused(bad, what):
    with pytest.raises(FilterError, match=what):
        compile_filter(bad)


def test_reduction_neurons_window_downsample():
    res = _result(n=4, t_ms=1000.0, stv=0.5)
    spec = compile_filter({"keep": ["volt", "ras"], "neurons": [2, 4],
                           "window_ms": [100, 500], "downsample": 4})
    _, kept = apply_filter(spec, res, res.pm)
    assert set(kept) >= {"volt", "ras", "neuron_ids", "t_ms"} and "isi" not in kept
    assert list(kept["neuron_ids"]) == [2, 4]
    t_ms = res.t_ms
    idx = np.flatnonzero((t_ms >= 100) & (t_ms <= 500))[::4]
    assert np.array_equal(kept["volt"], res.volt[[1, 3]][:, idx])
    assert np.array_equal(kept["t_ms"], t_ms[idx]) and kept["t_ms"][0] == 100.0
    ras = kept["ras"]  # the raster keeps every neuron, inside the window
    assert set(ras[:, 0]) == {1.0, 2.0, 3.0, 4.0}
    expected = res.ras[(res.ras[:, 1] >= 100) & (res.ras[:, 1] <= 500)]
    assert np.array_equal(ras, expected) and len(ras) < len(res.ras)
    loaded = Result.from_arrays(kept, pm=res.pm)
    assert np.array_equal(loaded.t_ms, kept["t_ms"])  # Result honours the kept sample times
    full = len(encode_arrays(apply_filter(None, res, res.pm)[1]))
    assert len(encode_arrays(kept)) < full / 5


def test_raster_only():
    _, kept = apply_filter(compile_filter({"keep": "ras"}), _result(), PM)
    assert {k for k in kept if not k.startswith("pn_")} == {"ras"}


def test_spec_is_msgpack_safe_and_equivalent():
    spec = compile_filter({"keep_if": "mean_rate > 5 and not (chi >= 0.9) or pr == 0.2",
                           "neurons": [1], "window_ms": [0, 10], "downsample": 2})
    back = msgpack.unpackb(msgpack.packb(spec), raw=False)
    assert back == spec
    res = _result()
    s1, k1 = apply_filter(spec, res, PM)
    s2, k2 = apply_filter(back, res, PM)
    assert s1 == s2 and set(k1) == set(k2)


def test_fano_window_option_reaches_the_statistic():
    res = _result(rate_hz=50)
    s100, _ = apply_filter(compile_filter({"stats": ["fano"]}), res, res.pm)
    s10, _ = apply_filter(compile_filter({"stats": ["fano"], "fano_window_ms": 10}), res, res.pm)
    assert set(s100) == {"fano"} and s100["fano"] != s10["fano"]


@pytest.mark.parametrize("user_filter, message", [
    ('{"keep_if": "mean_rate > 5 and open(1)"}',
     "keep_if 'mean_rate > 5 and open(1)', column 19: a function call is not allowed"),
    ('"mean_rte > 5"', "column 1: unknown name 'mean_rte' (did you mean 'mean_rate'?)"),
    ('{"keep": ["voltage"]}', "cannot keep 'voltage'"),
])
def test_coordinator_refuses_a_bad_filter_at_start(tmp_path, user_filter, message):
    """The coordinator compiles TASKS.py's filter before serving: one line, exit status 2."""
    import os
    import subprocess
    import sys

    tasks_py = tmp_path / "TASKS.py"
    tasks_py.write_text("from neunet import parameters\n"
                        "pm = parameters(); pm['t'] = 10\n"
                        f"tasks = [pm]\nfilter = {user_filter}\n")
    proc = subprocess.run([sys.executable, "-m", "neunet.coordinator", str(tasks_py),
                           "--port", "0", "--local-slots", "0", "--run-dir",
                           str(tmp_path / "run")], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=str(Path(__file__).parents[1])))
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
