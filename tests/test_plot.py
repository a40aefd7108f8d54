"""Tests of neunet.plot: every plot renders to PNG under Agg, the CLI, and the live plot."""
import io
import os
import subprocess
import sys

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from neunet import plot
from neunet.analysis.filters import apply_filter, compile_filter
from neunet.result import Result
from neunet.store import RunStore

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _result(n=3, k=400, stv=0.25):
    rng = np.random.default_rng(0)
    ras = np.array([[1 + i % n, 0.1 * i] for i in range(300)], dtype=float)
    volt = np.cumsum(rng.normal(size=(n, k)), axis=1)
    return Result.from_arrays({"volt": volt, "ras": ras, "isi": np.ones(n)},
                              pm={"t": k * stv, "stv": stv, "nE": n, "nI": 0})


def _png(fig, path):
    fig.savefig(path)
    data = open(path, "rb").read()
    assert data.startswith(PNG_MAGIC) and len(data) > 2000
    return data


def _sweep_dir(tmp_path):
    store = RunStore(tmp_path / "run")
    tasks = [{"tid": f"{m[:2]}{i}", "pm": {"neuron-model": m, "pr": p, "t": 100.0},
              "est_cost": 1.0, "est_s": 1.0}
             for m in ("HH-GH", "LIF-GH") for i, p in enumerate((0.1, 0.2, 0.3, 0.4))]
    ro = {"tid": "RO0", "pm": {"neuron-model": "LIF-G", "pr": 0.5, "t": 100.0},
          "est_cost": 1.0, "est_s": 1.0}
    store.sync_tasks(tasks + [ro])
    res = _result()
    raster_only = apply_filter(compile_filter({"keep": ["ras"]}), res, res.pm)
    store.record_result("RO0", raster_only[0], 0.1, "w", store.write_data("RO0", raster_only[1]))
    for j, t in enumerate(tasks[:-1]):
        summary, kept = apply_filter(None, res, res.pm)
        summary["mean_rate"] = 10.0 * j
        store.record_result(t["tid"], summary, 0.1, "w", store.write_data(t["tid"], kept))
    store.close()
    return tmp_path / "run"


def test_raster_and_voltage_render(tmp_path):
    res = _result()
    _png(plot.raster(res), tmp_path / "r.png")
    fig = plot.voltage(res, neurons=[1, 3])
    assert len(fig.axes[0].lines) == 2
    np.testing.assert_array_equal(fig.axes[0].lines[1].get_ydata(), res.volt[2])
    np.testing.assert_array_equal(fig.axes[0].lines[0].get_xdata(), res.t_ms)
    _png(fig, tmp_path / "v.png")
    with pytest.raises(ValueError, match=r"neuron\(s\) \[7\] not in this result"):
        plot.voltage(res, neurons=7)


def test_voltage_of_filtered_data_uses_kept_ids_and_times(tmp_path):
    res = _result(n=4)
    spec = compile_filter({"neurons": [2, 4], "window_ms": [10, 50], "downsample": 2})
    _, kept = apply_filter(spec, res, res.pm)
    small = Result.from_arrays(kept, pm=res.pm)
    fig = plot.voltage(small, neurons=4)
    line = fig.axes[0].lines[0]
    np.testing.assert_array_equal(line.get_xdata(), kept["t_ms"])
    np.testing.assert_array_equal(line.get_ydata(), kept["volt"][1])
    _png(fig, tmp_path / "v.png")


def test_sweep_from_run_dataframe_and_path(tmp_path):
    run_dir = _sweep_dir(tmp_path)
    from neunet.store import open_run

    run = open_run(run_dir)
    fig = plot.sweep(run, x="pr", y="mean_rate", hue="neuron-model")
    lines = fig.axes[0].lines
    assert [len(line.get_xdata()) for line in lines] == [4, 1, 3]  # one unfinished LIF-GH task
    np.testing.assert_array_equal(lines[0].get_ydata(), [0.0, 10.0, 20.0, 30.0])
    _png(fig, tmp_path / "s.png")
    fig = plot.sweep(run.query("neuron_model == 'LIF-GH'"), x="pr", y="mean_rate", hue=None)
    assert len(fig.axes[0].lines) == 1
    _png(plot.sweep(str(run_dir), hue="neuron_model"), tmp_path / "s2.png")
    with pytest.raises(ValueError, match="no column 'mean_rat' for y .did you mean 'mean_rate'"):
        plot.sweep(run, y="mean_rat")


def test_cli_writes_sweep_and_raster(tmp_path):
    run_dir = _sweep_dir(tmp_path)
    env = dict(os.environ, MPLBACKEND="Agg")
    out = tmp_path / "sweep.png"
    cmd = [sys.executable, "-m", "neunet.plot", str(run_dir), "--x", "pr", "--y", "mean_rate",
           "-o", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes().startswith(PNG_MAGIC)
    ras = tmp_path / "raster.png"
    proc = subprocess.run([sys.executable, "-m", "neunet.plot", str(run_dir), "--raster", "HH0",
                           "-o", str(ras)], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert ras.read_bytes().startswith(PNG_MAGIC)


@pytest.mark.parametrize("args, message", [
    (["{tmp}/nowhere"], "not a run directory"),
    (["{run}", "--y", "rate"], "no column 'rate'"),
    (["{run}", "--raster", "nope"], "no task 'nope'"),
    (["{run}", "--raster", "LI3"], "has no kept data"),
    (["{run}", "--query", "pr >"], "bad query"),
    (["{run}", "--query", "@np.f2py.os.system('id') == 0 or pr > 0"], "bad query"),
    (["{run}", "--query", "pr > 10**10**10"], "constant overflows"),
    (["{run}", "--voltage", "RO0"], "has no 'volt' data"),
    (["{run}", "--bogus"], "unrecognized arguments"),
])
def test_cli_errors_are_one_line_exit_2(tmp_path, args, message):
    run_dir = _sweep_dir(tmp_path)
    argv = [a.format(tmp=tmp_path, run=run_dir) for a in args]
    proc = subprocess.run([sys.executable, "-m", "neunet.plot", *argv, "-o",
                           str(tmp_path / "x.png")], capture_output=True, text=True,
                          env=dict(os.environ, MPLBACKEND="Agg"), timeout=120)
    assert proc.returncode == 2
    assert message in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    assert "Traceback" not in proc.stderr


def test_live_voltage_grows_and_saves_final_frame(tmp_path):
    res = _result(n=2, k=400)
    live = plot.LiveVoltage(res.pm, save_path=tmp_path / "live.png")
    for k in (50, 120, 260):
        live.update(res.volt[:, :k])
        assert len(live.fig.axes[0].lines[0].get_xdata()) == k
    fig = live.close(res)
    assert live.points == [50, 120, 260, 400]
    np.testing.assert_array_equal(fig.axes[0].lines[0].get_xdata(), res.t_ms)
    assert (tmp_path / "live.png").read_bytes().startswith(PNG_MAGIC)
    with pytest.raises(ValueError, match=r"\(n, K\)"):
        live.update(np.zeros(3))


def _live_pm(t_ms, n=2, stv_ms=None):
    from neunet import parameters

    pm = parameters()
    pm.update({"neuron-model": "HH-GH", "t": t_ms, "nE": n, "nI": 0, "pr": 1.0, "ps": 0.02,
               "scee": 0.0, "scie": 0.0, "scei": 0.0, "scii": 0.0, "stv": stv_ms})
    return pm


def test_gen_neu_live_plot_grows_while_simulating(tmp_path):
    """The real simulator subprocess streams volt rows; the live plot sees them grow."""
    from neunet import gen_neu

    # 200 uncoupled HH neurons for 4 s: seconds of simulation on any machine (the file is
    # polled every 0.25 s), 8 MB of voltage sampled every 1 ms
    pm = _live_pm(4000.0, n=200, stv_ms=1.0)
    live = plot.LiveVoltage(pm, save_path=tmp_path / "live.png")
    res = gen_neu(pm, "v live", watcher=live, data_dir=tmp_path / "data")
    k = res.volt.shape[1]
    assert k == 4000
    assert live.points == sorted(live.points) and live.points[-1] == k
    assert live.points[0] < k, f"no update before the run ended: {live.points}"
    line = live.fig.axes[0].lines[0]
    np.testing.assert_array_equal(line.get_ydata(), res.volt[0])
    np.testing.assert_allclose(line.get_xdata(), res.t_ms)
    assert (tmp_path / "live.png").read_bytes().startswith(PNG_MAGIC)


def test_gen_neu_live_mode_uses_live_voltage_headless(tmp_path, capsys):
    import matplotlib.pyplot as plt

    from neunet import gen_neu

    before = set(plt.get_fignums())
    res = gen_neu(_live_pm(200.0), "live", data_dir=tmp_path / "data")
    err = capsys.readouterr().err  # Agg cannot redraw: it says so, and how to get a file
    assert "backend 'agg' cannot redraw" in err.lower() and "save_path=" in err
    new = set(plt.get_fignums()) - before
    assert len(new) == 1
    fig = plt.figure(new.pop())
    np.testing.assert_array_equal(fig.axes[0].lines[1].get_ydata(), res.volt[1])
    _png(fig, tmp_path / "final.png")


def test_live_plot_scrolls_a_time_window(tmp_path):
    live = plot.LiveVoltage(_live_pm(1000.0, stv_ms=1.0), window_ms=100, stream=io.StringIO())
    volt = np.arange(2000, dtype=float).reshape(2, 1000)
    live.update(volt[:, :50])
    assert live.ax.get_xlim() == (0.0, 100.0)
    live.update(volt)
    xs = live.fig.axes[0].lines[0].get_xdata()
    assert live.ax.get_xlim() == (900.0, 1000.0) and xs[0] >= 900.0 and xs[-1] == 1000.0
    assert live.ax.get_ylim()[0] > 800  # scaled to the window, not to the whole run
    with pytest.raises(ValueError, match="window_ms"):
        plot.LiveVoltage({}, window_ms=0)


def test_plot_cli_window_neurons_prefix_and_title(tmp_path):
    run_dir = str(_sweep_dir(tmp_path))
    out = tmp_path / "r.png"
    assert plot.main([run_dir, "--raster", "RO", "--window", "10", "20", "--neurons", "1-2",
                      "-o", str(out)]) == 0  # a unique prefix of RO0
    assert out.read_bytes().startswith(PNG_MAGIC)
    fig = plot._cli_figure(plot._parser().parse_args(
        [run_dir, "--raster", "RO0", "--window", "10", "20", "--neurons", "1,3"]))
    dots = fig.axes[0].collections[0].get_offsets()
    assert set(dots[:, 1]) == {1.0, 3.0} and 10 <= dots[:, 0].min() <= dots[:, 0].max() <= 20
    fig = plot._cli_figure(plot._parser().parse_args(
        [run_dir, "--voltage", "HH1", "--window", "10", "60", "--neurons", "2"]))
    ax = fig.axes[0]
    assert ax.get_title() == "voltage of task HH1: neuron-model=HH-GH, pr=0.2"
    assert len(ax.lines) == 1 and 10 <= ax.lines[0].get_xdata().min()
    assert ax.lines[0].get_xdata().max() <= 60
    assert plot.main([run_dir, "--raster", "RO0", "--neurons", "x"]) == 2
    assert plot.main([run_dir, "--raster", "RO0", "--window", "5", "1"]) == 2
    assert plot.main([run_dir, "--raster", "HH"]) == 2  # ambiguous prefix
