"""The command line as a real subprocess (and simulate() in process): files, errors, streaming."""
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from neunet.sim import io
from neunet.sim.options import SimInputError

CASES = Path(__file__).parent / "data" / "reference_cases"
EVENTS = str(CASES / "lif_gh_single" / "events.txt")


def cli(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "neunet.sim", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


def assert_one_line_error(r, pattern, code=2):
    assert r.returncode == code, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("neunet-sim: error: "), r.stderr
    assert "Traceback" not in r.stderr
    assert pattern in lines[0], lines[0]


def test_help_is_light_and_complete():
    code = ("import sys\nfrom neunet.sim.__main__ import main\ntry:\n    main(['--help'])\n"
            "except SystemExit as e:\n    print('EXIT', e.code, 'numba' in sys.modules, "
            "'pandas' in sys.modules, 'matplotlib' in sys.modules)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.stdout.strip().splitlines()[-1] == "EXIT 0 False False False"
    assert "--neuron-model" in r.stdout and "--reference-quirks" in r.stdout
    r = cli("--help")
    assert r.returncode == 0 and "--output-poisson-path" in r.stdout


@pytest.mark.parametrize("args, pattern", [
    ([], "missing required option --neuron-model"),
    (["--neuron-model", "HH-GHH", "--net", "-"], "did you mean HH-GH"),
    (["--neuron-model", "IF-jump", "--net", "-", "--simulation-method", "simple"],
     "cannot be simulated with method simple"),
    (["--neuron-model", "HH-GH", "--net", "-", "--nE", "2", "--nE", "2"],
     "option '--nE' cannot be specified more than once"),
    (["--neuron-model", "HH-GH", "--net", "-", "--n", "2"], "ambiguous option: --n could"),
    (["--neuron-model", "HH-GH", "--net", "-", "--simulation-method", "sparse"], "unknown"),
    (["--neuron-model", "HH-GH", "--net", "-", "--dt", "0.1", "--stv", "0.3"], "multiple"),
    (["--neuron-model", "HH-GH-extI", "--net", "-"], "needs --extI"),
    (["--neuron-model", "HH-GH", "--net", "-", "--pr", "-2"], "--pr"),
    (["--neuron-model", "HH-GH", "--net", "-", "--seed", "x"], "--seed"),
    (["--neuron-model", "HH-GH", "--net", "-", "--nI", "20", "--nI", "20"],
     "option '--nI' cannot be specified more than once"),
])
def test_bad_options_exit_2_with_one_line(args, pattern):
    assert_one_line_error(cli(*args), pattern)


def test_bad_files_exit_2_naming_file_and_line(tmp_path):
    ev = tmp_path / "ev.txt"
    ev.write_text("1 0.5\n1 x\n")
    r = cli("--neuron-model", "LIF-G", "--net", "-", "--input-event-path", ev, "--t", "1")
    assert_one_line_error(r, f"{ev}:2: bad number 'x'")
    ev.write_text("1 0.5\n2 0.6\n")
    r = cli("--neuron-model", "LIF-G", "--net", "-", "--input-event-path", ev, "--t", "1")
    assert_one_line_error(r, f"{ev}:2: neuron id 2 outside 1..1")
    net = tmp_path / "net.txt"
    net.write_text("0 1 1\n")
    r = cli("--neuron-model", "LIF-G", "--nE", "2", "--net", net, "--t", "1")
    assert_one_line_error(r, "has 3 numbers, expected n*n = 4")
    net.write_text("1 3 1\n")
    r = cli("--neuron-model", "LIF-G", "--nE", "2", "--net", net, "--sparse-net", "--t", "1")
    assert_one_line_error(r, f"{net}:1: neuron index 3 outside 1..2")


def test_simulation_error_exit_2(tmp_path):
    ev = tmp_path / "ev.txt"
    ev.write_text("1 0.1 100\n")
    r = cli("--neuron-model", "LIF-G", "--net", "-", "--refractory-time", "0",
            "--input-event-path", ev, "--t", "2", "--simulation-method", "simple")
    assert_one_line_error(r, "simulation failed: Multiple spikes in one dt")


def test_a_run_that_blows_up_stops_with_exit_2_after_its_finite_part(tmp_path):
    """HH-GH at dt 0.125 ms goes unstable at its first spikes: one line naming the neuron
    and the time, exit 2; the files hold the sample rows before the first non-finite one;
    simulate() raises the same message."""
    from neunet.sim import SimUnstableError, simulate
    args = ["--neuron-model", "HH-GH", "--net", "-", "--t", "20", "--dt", "0.125",
            "--pr", "1", "--ps", "0.05", "--seed", "1", "--simulation-method", "simple"]
    r = cli(*args, "-o", tmp_path / "v.dat", "--ras-path", tmp_path / "r.txt")
    message = "neuron 1: V = nan at t = 6.625 ms (numerically unstable; try a smaller --dt)"
    assert_one_line_error(r, "simulation failed: " + message)
    volt = np.fromfile(tmp_path / "v.dat")
    assert volt.size == 52 and np.isfinite(volt).all()
    assert all(float(line.split()[1]) < 6.625
               for line in (tmp_path / "r.txt").read_text().splitlines())
    with pytest.raises(SimUnstableError) as info:
        simulate(args)
    assert str(info.value) == message


def test_files_layouts_and_first_row(tmp_path):
    out = tmp_path / "deep" / "dir"
    r = cli("--neuron-model", "LIF-GH", "--net", "-", "--nE", "2", "--t", "20",
            "--stv", "0.5", "--pr", "1", "--ps", "0.05", "--seed", "3",
            "-o", out / "v.dat", "--conductance-path", out / "g.dat",
            "--ion-gate-path", out / "gate.dat", "--ras-path", out / "ras.txt",
            "--isi-path", out / "isi.txt", "--output-first-data-point")
    assert r.returncode == 0, r.stderr
    assert (out / "v.dat").stat().st_size == 41 * 2 * 8          # t = 0 row + 40 samples
    assert (out / "g.dat").stat().st_size == 41 * 4 * 8
    assert not (out / "gate.dat").exists()                       # not an HH model
    assert np.fromfile(out / "v.dat")[:2].tolist() == [0.0, 0.0]
    isi = (out / "isi.txt").read_text()
    assert isi.endswith("\t") and len(isi.split("\t")) == 3
    for line in (out / "ras.txt").read_text().splitlines():
        i, t = line.split("\t")
        assert i in ("1", "2") and 0 < float(t) <= 20


def test_hh_gate_rows(tmp_path):
    r = cli("--neuron-model", "HH-GH", "--net", "-", "--nE", "2", "--t", "1", "--dt", "0.25",
            "--stv", "0.5", "--output-first-data-point", "-o", tmp_path / "v",
            "--conductance-path", tmp_path / "g", "--ion-gate-path", tmp_path / "h")
    assert r.returncode == 0, r.stderr
    sizes = [os.path.getsize(tmp_path / k) for k in "vgh"]
    assert sizes == [48, 96, 144]                                # spec V1: 3 rows, n = 2
    gate = np.fromfile(tmp_path / "h").reshape(3, 6)
    assert gate[0, :3].tolist() == [5.9611104634682788e-01, 5.2934217620863984e-02,
                                    3.1768116757978115e-01]      # h, m, n at rest


def test_poisson_output_replays_identically(tmp_path):
    common = ["--neuron-model", "HH-GH", "--net", "-", "--nE", "2", "--nI", "1",
              "--scee", "0.01", "--scei", "0.02", "--t", "100", "--stv", "0.5",
              "--ps", "0.05", "0.06", "0.04", "--psi", "0.02"]
    r = cli(*common, "--pr", "1", "2", "0.5", "--pri", "0.3", "0", "0.2", "--seed", "7", "42",
            "-o", tmp_path / "v1", "--ras-path", tmp_path / "r1",
            "--output-poisson-path", tmp_path / "ev.txt")
    assert r.returncode == 0, r.stderr
    lines = (tmp_path / "ev.txt").read_text().splitlines()
    assert len(lines) > 300 and any(float(x.split("\t")[2]) < 0 for x in lines)
    r = cli(*common, "--input-event-path", tmp_path / "ev.txt", "-o", tmp_path / "v2",
            "--ras-path", tmp_path / "r2", "--output-poisson-path", tmp_path / "ev2.txt")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "v1").read_bytes() == (tmp_path / "v2").read_bytes()
    assert (tmp_path / "r1").read_text() == (tmp_path / "r2").read_text()
    assert (tmp_path / "ev2.txt").read_text() == (tmp_path / "ev.txt").read_text()


def test_simulate_matches_cli_and_touches_no_files(tmp_path):
    from neunet.sim import simulate
    args = ["--neuron-model", "LIF-GH", "--net", "-", "--nE", "1", "--t", "200",
            "--stv", "0.5", "--ps", "0.012", "--input-event-path", EVENTS,
            "--simulation-method", "simple"]
    before = set(os.listdir(tmp_path))
    d = simulate(args + ["-o", str(tmp_path / "never.dat")],
                 outputs=("volt", "ras", "isi", "conductance", "ion_gate", "poisson"))
    assert set(os.listdir(tmp_path)) == before
    assert set(d) == {"volt", "ras", "isi", "conductance", "poisson"}   # LIF: no ion_gate
    assert d["volt"].shape == (1, 400) and d["conductance"].shape == (1, 2, 400)
    r = cli(*args, "-o", tmp_path / "v.dat", "--ras-path", tmp_path / "r.txt",
            "--isi-path", tmp_path / "i.txt")
    assert r.returncode == 0, r.stderr
    assert np.array_equal(np.fromfile(tmp_path / "v.dat"), d["volt"][0])
    ras = np.loadtxt(tmp_path / "r.txt", ndmin=2)
    assert ras.shape == d["ras"].shape and np.array_equal(ras, d["ras"])
    assert d["isi"][0] == 200 / len(ras)
    assert np.all(d["poisson"][:, 1] < 200) and np.all(d["poisson"][:, 0] == 1)
    with pytest.raises(SimInputError, match="unknown output"):
        simulate(args, outputs=("voltage",))
    with pytest.raises(SimInputError, match="needs --simulation-method simple"):
        simulate(["--neuron-model", "Hawkes-GH", "--net", "-"])


def test_warmup_alignment_through_the_api():
    from neunet.sim import simulate
    base = ["--neuron-model", "LIF-G", "--net", "-", "--dt", "0.25", "--stv", "0.5",
            "--pr", "1", "--ps", "0.1", "--simulation-method", "simple"]
    short = simulate(base + ["--t", "20", "--t-warming-up", "5.1"])
    long = simulate(base + ["--t", "25"])
    assert np.array_equal(short["volt"], long["volt"][:, 10:])
    keep = long["ras"][:, 1] > 5.0
    assert np.array_equal(short["ras"][:, 1], long["ras"][keep, 1] - 5.0)


def test_verbose_progress_echo_and_timing(tmp_path):
    r = cli("--neuron-model", "LIF-G", "--net", "-", "--t", "100", "--pr", "1", "--ps",
            "0.1", "-v", "--verbose-echo", "--timing", "-o", tmp_path / "v")
    assert r.returncode == 0, r.stderr
    assert 'Model: "LIF-G"' in r.stdout and "Number of spikes:" in r.stdout
    assert "# of calls to NoInteractDt(): " in r.stdout
    assert "100.0 %" in r.stderr and "ETA" in r.stderr and "timing: run" in r.stderr


def _peak_rss_mb(proc, poll_s=0.05):
    peak = 0.0
    while proc.poll() is None:
        try:
            for line in open(f"/proc/{proc.pid}/status"):
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]) / 1024)
        except OSError:
            pass
        time.sleep(poll_s)
    return peak


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs /proc")
def test_memory_does_not_grow_with_t(tmp_path):
    peaks = []
    for t_ms in (500, 5000):
        cmd = [sys.executable, "-m", "neunet.sim", "--neuron-model", "LIF-GH", "--net", "-",
               "--nE", "100", "--scee", "0.0001", "--t", str(t_ms), "--stv", "0.5",
               "--pr", "1", "--ps", "0.01", "--simulation-method", "simple",
               "--seed", "1", "-o", str(tmp_path / f"v{t_ms}.dat")]
        proc = subprocess.Popen(cmd, stderr=subprocess.PIPE)
        peaks.append(_peak_rss_mb(proc))
        assert proc.wait() == 0, proc.stderr.read()
        assert os.path.getsize(tmp_path / f"v{t_ms}.dat") == 100 * 8 * t_ms * 2
    assert peaks[1] < 200 and peaks[1] < peaks[0] + 30, peaks


class _CheckingSink(io.FileSink):
    """FileSink that checks, at every chunk, that the previous rows are already on disk."""

    def __init__(self, paths, t_ms):
        super().__init__(paths, t_ms)
        self.path, self.rows, self.calls = paths["volt"], 0, 0

    def samples(self, volt, cond, gate):
        assert os.path.getsize(self.path) == self.rows * volt.shape[1] * 8
        super().samples(volt, cond, gate)
        self.rows += volt.shape[0]
        self.calls += 1
        assert os.path.getsize(self.path) == self.rows * volt.shape[1] * 8


def test_volt_file_is_streamed_chunk_by_chunk(tmp_path):
    from neunet.sim import api
    from neunet.sim.options import parse_argv
    opts = parse_argv(["--neuron-model", "HH-GH", "--net", "-", "--nE", "20", "--t", "3000",
                       "--stv", "0.5", "--pr", "1", "--ps", "0.05", "--simulation-method",
                       "simple"])
    sink = _CheckingSink({"volt": str(tmp_path / "v.dat")}, opts.t_ms)
    api.run_options(opts, sink, record=("volt",))
    sink.close()
    assert sink.rows == 6000 and sink.calls >= 3


def test_console_script():
    script = Path(sys.executable).parent / "neunet-sim"
    if not script.exists():
        pytest.skip("package not installed with its console script")
    r = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "--neuron-model" in r.stdout
    r = subprocess.run([str(script), "--neuron-model", "X", "--net", "-"], capture_output=True,
                       text=True, timeout=60)
    assert_one_line_error(r, "unknown neuron model 'X'")


def test_bad_input_leaves_no_output_files(tmp_path):
    ev = tmp_path / "ev.txt"
    ev.write_text("1 0.5\n1 0.2\n")
    r = cli("--neuron-model", "LIF-G", "--net", "-", "--input-event-path", ev, "--t", "1",
            "-o", tmp_path / "out" / "v.dat", "--output-poisson-path", tmp_path / "p.txt")
    assert_one_line_error(r, "not in time order")
    assert not (tmp_path / "out").exists() and not (tmp_path / "p.txt").exists()


def test_cli_run_does_not_load_scipy():
    code = ("import sys\nfrom neunet.sim.__main__ import main\n"
            "rc = main(['--neuron-model', 'LIF-G', '--net', '-', '--t', '1'])\n"
            "print(rc, 'scipy' in sys.modules, 'numba' in sys.modules)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=600)
    assert r.stdout.split() == ["0", "False", "True"], r.stderr


def test_cli_start_up_runs_without_collections_and_leaves_the_gc_on():
    """The cyclic GC is paused while a process's first call imports numba and reads its
    inputs (~125 collections otherwise) and is on for the run and after it, also after an
    error."""
    code = ("import gc\nfrom neunet.sim import engine\nfrom neunet.sim.__main__ import main\n"
            "count, seen, run = [], [], engine.run\n"
            "gc.callbacks.append(lambda phase, info: count.append(phase))\n"
            "engine.run = lambda *a: (seen.append((len(count), gc.isenabled())), run(*a))[1]\n"
            "start = len(count)\n"
            "rc = main(['--neuron-model', 'IF-jump', '--nE', '3', '--net', '-', '--t', '1'])\n"
            "print(rc, seen[0][0] - start, seen[0][1], main(['--t', 'x']), gc.isenabled())\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=600)
    assert r.stdout.split() == ["0", "0", "True", "2", "True"], r.stderr
