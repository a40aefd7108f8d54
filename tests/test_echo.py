"""neunet.sim.echo: --verbose-echo prints what gen_neu prints, in its layout.

The expected texts are the C++ reference's stdout for the same arguments and files."""
import subprocess
import sys

# gen_neu's stdout for LIF_ARGS (SSC, so the count is of the reference's SSC: quirks on).
LIF_OUT = (
    'Random seed: 7 1\n'
    'Model: "LIF-GH"\n'
    'Number of neurons: 2 E + 1 I\n'
    'Network: number of edges = 4/6 (67 %)\n'
    '       0       1     0.5\n'
    '     1.2       0       0\n'
    '       0       2       0\n'
    'pr :\n'
    '     1.5       2       0\n'
    'ps :\n'
    '   0.012   0.012   0.012\n'
    'pri:\n'
    '     0.5     0.5     0.5\n'
    'psi:\n'
    '    0.01    0.01    0.01\n'
    '\n'
    '     scee     scie     scei     scii\n'
    '     0.02        0    0.125        0\n'
    '\n'
    'Simulator: "SSC"\n'
    '  t = 3.3 (warming-up) + 20 ms, dt = 0.031 ms, stv = 0.031 ms (1 dt)\n'
    'Number of spikes:\n'
    '       0       1       0\n'
    '# of calls to NoInteractDt(): 2366\n'
)
# gen_neu's stdout for IF_ARGS.
IF_OUT = (
    '  Non-constant delay.\n'
    'Warning: dt (0.5 ms) < stv (1 ms) in IF-jump model, which is pointless. '
    'Use a larger dt please.\n'
    'Initial state loaded.\n'
    'Model: "IF-jump"\n'
    'Number of neurons: 3 E + 0 I\n'
    'Network: number of edges = 4/6 (67 %)\n'
    '       0       1     0.5\n'
    '     1.2       0       0\n'
    '       0       2       0\n'
    'pr :\n'
    '       0       0       0\n'
    'ps :\n'
    '     0.4     0.4     0.4\n'
    '\n'
    '     scee     scie     scei     scii\n'
    '        0        0        0        0\n'
    '\n'
    'Number of external events: 3\n'
    '\n'
    'Simulator: "IF-jump-delay"\n'
    '  t = 10 ms, dt = 0.5 ms, stv = 1 ms (2 dt)\n'
    '  Imported events: 3\n'
    'Number of spikes:\n'
    '       0       0       0\n'
    '# of calls to NoInteractDt(): 0\n'
)
# A 3-neuron net (A[i][j]: from j to i), delays, events and an IF-jump initial state.
FILES = {"net.txt": "0 1 0.5\n1.25 0 0\n0 2 0\n", "d.txt": "0 1 0\n0.7 0 0\n0 0.9 0\n",
         "ev.txt": "1 0.5 0.3\n2 1.0\n3 1.5 -0.2\n",
         "init.txt": "0 0 0 0\n0.5 0 -1 0.5\n0 0 0 0\n"}
LIF_ARGS = ["--neuron-model", "LIF-GH", "--net", "net.txt", "--nE", "2", "--nI", "1", "--t",
            "20", "--pr", "1.5", "2", "--ps", "0.012", "--pri", "0.5", "--psi", "0.01",
            "--scee", "0.02", "--scei", "0.125", "--seed", "7", "1", "--t-warming-up", "3.3",
            "--verbose-echo", "--reference-quirks"]
IF_ARGS = ["--neuron-model", "IF-jump", "--net", "net.txt", "--nE", "3", "--t", "10", "--dt",
           "0.5", "--stv", "1", "--ps", "0.4", "--synaptic-net-delay", "d.txt",
           "--input-event-path", "ev.txt", "--initial-state-path", "init.txt",
           "--verbose-echo"]


def _stdout(tmp_path, args):
    for name, text in FILES.items():
        (tmp_path / name).write_text(text)
    r = subprocess.run([sys.executable, "-m", "neunet.sim", *args], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_echo_of_a_network_run_is_the_references(tmp_path):
    assert _stdout(tmp_path, LIF_ARGS) == LIF_OUT


def test_echo_of_an_if_jump_delay_run_is_the_references(tmp_path):
    assert _stdout(tmp_path, IF_ARGS) == IF_OUT
