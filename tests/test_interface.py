"""Tests of neunet.single: gen_neu modes against the real simulator subprocess, simulate()."""
import os
import shlex
import subprocess

import numpy as np
import pytest

from neunet import gen_neu, parameters, simulate, single
from neunet.params import ParameterError


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    folder = tmp_path / "data"
    monkeypatch.setenv("NEUNET_DATA_DIR", str(folder))
    return folder


def small_pm(**change):
    pm = parameters()
    pm.update({"t": 20.0, "seed": 5, "pr": 0.5, "ps": 0.05, "stv": 0.25}, **change)
    return pm


def data_files(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def assert_same(a, b):
    assert a.kinds == b.kinds
    for (_, kind, x), (_, _, y) in zip(a, b):
        np.testing.assert_array_equal(x, y, err_msg=kind)


def test_seed_gen_neu_example_runs_as_written(data_dir, capsys):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # Get default parameters
    pm = parameters()
    pm['simulation-method'] = 'simple'
    pm['neuron-model'] = 'HH-PT-GH'
    pm['net']
    pm['t'] = 100
    pm['dt'] = 1.0/32.0
    pm['stv'] = pm['dt']
    pm['nE'] = 1
    pm['nI'] = 0
    pm['pr'] = 0.1
    pm['ps'] = 0.014
    pm['scee'] = 0.05
    pm['scei'] = 0.05
    pm['scie'] = 0.05
    pm['scii'] = 0.05
    result = gen_neu(pm, 'v rm')
    print("data has been stored in list 'result'")
    print([(x[0], x[1]) for x in result])
    plt.plot(result[0][2][0])
    plt.close("all")

    out = capsys.readouterr().out
    assert "[(None, 'volt'), (None, 'ras'), (None, 'isi')]" in out
    assert result[0][2][0].shape == (3200,)
    assert result.volt.shape == (1, 3200)
    np.testing.assert_array_equal(result[0][2][0], result.volt[0])
    assert data_files(data_dir) == []              # rm: nothing left behind


def test_gen_neu_equals_in_process_simulate(data_dir):
    pm = small_pm(nE=3, nI=1, **{"neuron-model": "LIF-GH", "simulation-method": "SSC"},
                  scee=0.2, scie=0.1, scei=0.1, scii=0.1, pr=1.5, ps=0.1)
    result = gen_neu(pm, "rm")
    direct = simulate(pm)
    assert_same(result, direct)
    assert result.volt.shape == (4, 80)
    assert result.ras.shape[1] == 2 and len(result.ras) > 0
    assert np.all(np.diff(result.ras[:, 1]) >= 0)


def test_no_rm_then_read_returns_identical_arrays(data_dir):
    pm = small_pm()
    kept = gen_neu(pm, "no-rm")
    assert all(path and os.path.exists(path) for path in kept.paths.values())
    again = gen_neu(pm, "read no-rm")
    assert_same(kept, again)
    assert again.paths == kept.paths
    last = gen_neu(pm, "read")                     # rm is the default: read, then delete
    assert_same(kept, last)
    assert not any(os.path.exists(p) for p in kept.paths.values())
    with pytest.raises(FileNotFoundError, match="no data files for these parameters"):
        gen_neu(pm, "read")


def test_read_never_returns_stale_files(data_dir, tmp_path):
    pm = small_pm()
    gen_neu(pm, "no-rm")
    with pytest.raises(FileNotFoundError, match="no-rm"):
        gen_neu(dict(pm, pr=0.6), "read")
    net = tmp_path / "net.txt"
    net.write_text("0 1\n0 0\n")
    pm2 = small_pm(nE=2, net=str(net))
    gen_neu(pm2, "no-rm")
    net.write_text("0 0\n1 0\n")                   # same path, new content
    with pytest.raises(FileNotFoundError):
        gen_neu(pm2, "read")


def test_read_with_nothing_to_read(data_dir):
    with pytest.raises(FileNotFoundError, match="run gen_neu\\(pm, 'no-rm'\\) first"):
        gen_neu(small_pm(), "read")


def test_namex_returns_file_names_and_keeps_files(data_dir):
    pm = small_pm()
    names = gen_neu(pm, "nameX")
    assert [kind for _, kind, _ in names] == ["volt", "ras", "isi"]
    assert all(data is None and os.path.exists(path) for path, _, data in names)
    assert all(os.path.dirname(path) == str(data_dir) for path, _, _ in names)
    assert gen_neu(pm, "nameX read") == names     # names of the kept files, nothing run
    assert_same(gen_neu(pm, "read"), simulate(pm))


def test_cmd_returns_the_command_and_runs_nothing(data_dir):
    pm = small_pm()
    line = gen_neu(pm, "cmd")
    assert isinstance(line, str) and "-m neunet.sim" in line
    assert "--volt-path" in line and "--seed 5" in line
    assert data_files(data_dir) == []
    # The printed command is what gen_neu runs: running it gives the same data.
    subprocess.run(shlex.split(line), check=True, env=single._child_env(),
                   capture_output=True)
    argv = shlex.split(line)
    paths = {k: argv[argv.index(flag) + 1] for k, (_, flag) in single.FILES.items()
             if flag in argv}
    assert_same(single.Result.from_arrays(single.read_outputs(paths, 1)), simulate(pm))


def test_verbose_no_rm_extra_data(data_dir, capsys):
    pm = small_pm(nE=2)
    result = gen_neu(pm, "v no-rm extra-data")
    out = capsys.readouterr()
    assert "gen_neu: simulated" in out.out
    assert result.kinds == ["volt", "ras", "isi", "conductance", "ion-gate"]
    k = result.volt.shape[1]
    assert result.conductance.shape == (2, 2, k) and result.ion_gate.shape == (2, 3, k)
    direct = simulate(pm, outputs=("volt", "ras", "isi", "conductance", "ion_gate"))
    assert_same(result, direct)
    assert_same(gen_neu(pm, "read no-rm extra-data"), direct)
    lif = small_pm(**{"neuron-model": "LIF-G"})
    assert gen_neu(lif, "extra-data").kinds == ["volt", "ras", "isi", "conductance"]


def test_read_extra_data_needs_kept_extra_data(data_dir):
    pm = small_pm()
    gen_neu(pm, "no-rm")
    with pytest.raises(FileNotFoundError, match="lack conductance"):
        gen_neu(pm, "read extra-data")


@pytest.mark.parametrize("mode, message", [
    ("v rmm", "did you mean 'rm'"),
    ("namex", "did you mean 'nameX'"),
    ("rm no-rm", "contradict"),
    ("cmd read", "cannot be combined"),
])
def test_bad_modes(data_dir, mode, message):
    with pytest.raises(ValueError, match=message):
        gen_neu(small_pm(), mode)
    assert data_files(data_dir) == []


def test_invalid_parameters_fail_before_anything_runs(data_dir):
    with pytest.raises(ParameterError, match="did you mean 'scee'"):
        gen_neu(dict(small_pm(), scee_mv=0.1), "no-rm")
    with pytest.raises(ParameterError, match="'stv'"):
        gen_neu(small_pm(dt=0.1, stv=0.3), "no-rm")
    assert data_files(data_dir) == []


def test_simulator_failure_becomes_exception_with_its_message(data_dir, tmp_path):
    events = tmp_path / "events.txt"
    events.write_text("1 0.5 0.1\nthis is not an event\n")
    pm = small_pm(**{"input-event-path": str(events)})
    with pytest.raises(single.SimulatorError) as info:
        gen_neu(pm, "rm")
    assert f"{events}:2" in str(info.value) and "neunet-sim: error" in str(info.value)
    assert info.value.returncode == 2
    assert not [name for name in data_files(data_dir) if name.endswith(".tmp")]


def test_a_run_that_blows_up_raises_in_both_layers(data_dir):
    """simulate() raises the simulator's SimUnstableError; gen_neu() its message."""
    from neunet.sim import SimUnstableError
    pm = small_pm(**{"neuron-model": "HH-GH", "dt": 0.125, "stv": 0.125, "pr": 1.0, "t": 50.0})
    with pytest.raises(SimUnstableError, match="neuron 1: V = nan at t = .* ms .*try a "
                                               "smaller --dt"):
        simulate(pm)
    with pytest.raises(single.SimulatorError, match="try a smaller --dt") as info:
        gen_neu(pm, "rm")
    assert info.value.returncode == 2


class RecordingWatcher:
    """A watcher that keeps what gen_neu shows it."""

    def __init__(self):
        self.shapes, self.last, self.closed = [], None, None

    def update(self, volt_so_far):
        self.shapes.append(volt_so_far.shape)
        self.last = volt_so_far.copy()

    def close(self, result):
        self.closed = result


def test_watcher_sees_the_voltage_grow(data_dir):
    from neunet import time_cost
    pm = small_pm(t=1000.0, stv=0.5, nE=20, **{"neuron-model": "HH-GH"})
    pm["t"] = float(round(1.5 / time_cost(pm)[1] * 1000.0))  # about 1.5 s of simulation
    watcher = RecordingWatcher()
    result = gen_neu(pm, "rm", watcher=watcher)
    assert watcher.closed is result
    widths = [shape[1] for shape in watcher.shapes]
    assert all(shape[0] == 20 for shape in watcher.shapes)
    assert widths == sorted(widths) and widths[-1] == result.volt.shape[1] == 2 * pm["t"]
    assert len(widths) >= 2 and widths[0] < widths[-1]   # seen before the end
    np.testing.assert_array_equal(watcher.last, result.volt)


def test_volt_reader_reads_only_complete_rows(tmp_path):
    path = tmp_path / "v.dat"
    reader = single.VoltReader(str(path), 3)
    assert not reader.poll()
    data = np.arange(12, dtype="<f8")
    path.write_bytes(data[:5].tobytes())           # one row and a bit
    assert reader.poll() and reader.volt().shape == (3, 1)
    with open(path, "ab") as f:
        f.write(data[5:].tobytes())
    assert reader.poll()
    np.testing.assert_array_equal(reader.volt(), data.reshape(4, 3).T)
    assert not reader.poll()


def test_live_mode_uses_the_live_voltage_plot(data_dir, capsys):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.close("all")
    pm = small_pm(t=200.0, nE=2)
    result = gen_neu(pm, "v live")
    fig = plt.figure(plt.get_fignums()[-1])
    lengths = [len(line.get_xdata()) for line in fig.axes[0].get_lines()]
    assert lengths and all(k == result.volt.shape[1] == 800 for k in lengths)
    plt.close("all")
    with pytest.raises(ValueError, match="cannot be combined"):
        gen_neu(pm, "live read")


def test_matrix_nets_dense_and_sparse_give_the_same_run(data_dir):
    from scipy import sparse
    net = np.array([[0, 1, 1], [0, 0, 1], [1, 0, 0]], dtype=float)
    pm = small_pm(nE=2, nI=1, net=net, scee=0.3, scie=0.3, scei=0.2, scii=0.2,
                  **{"neuron-model": "LIF-G"}, pr=1.0, ps=0.2)
    dense = gen_neu(pm, "rm")
    assert_same(dense, simulate(dict(pm, net=sparse.csr_matrix(net))))
    assert_same(dense, simulate(dict(pm, net=net.tolist())))
    uncoupled = simulate(dict(pm, net=np.zeros((3, 3))))
    assert not np.array_equal(dense.volt, uncoupled.volt)    # the net matters
    assert any(name.startswith("net-") for name in data_files(data_dir))
