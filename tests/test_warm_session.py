"""gen_neu's warm simulator process (neunet.sim.warm.session) as a real process: reuse, crash,
ctrl-c, threads, and the end of the interpreter."""
import os
import signal
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest
from dist_helpers import wait_until

from neunet import gen_neu, parameters, simulate, single
from neunet.sim.warm import session


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    folder = tmp_path / "data"
    monkeypatch.setenv("NEUNET_DATA_DIR", str(folder))
    return folder


def small_pm(**change):
    pm = parameters()
    pm.update({"t": 20.0, "seed": 5, "pr": 0.5, "ps": 0.05, "stv": 0.25}, **change)
    return pm


def long_pm():
    """About a minute of simulation: long enough to be interrupted or killed."""
    return small_pm(t=2e5, nE=50, scee=0.001, stv=0.5, **{"neuron-model": "HH-GH"})


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not open(f"/proc/{pid}/stat").read().split()[2] == "Z" \
        if os.path.exists(f"/proc/{pid}/stat") else True



def test_one_process_serves_call_after_call_in_every_mode(data_dir, capsys):
    gen_neu(small_pm(), "rm")
    [pid] = session.running_sessions()
    pm = small_pm(nE=2)
    kept = gen_neu(pm, "v no-rm extra-data")
    err = capsys.readouterr().err
    assert "100.0 %" in err                         # the simulator's -v progress, relayed
    np.testing.assert_array_equal(kept.volt, simulate(pm).volt)
    assert gen_neu(pm, "nameX read")[0][0] == kept.paths["volt"]
    assert gen_neu(pm, "read").volt.shape == kept.volt.shape
    assert session.running_sessions() == [pid]


@pytest.mark.parametrize("signum, message", [
    (signal.SIGKILL, "killed by SIGKILL$"),
    (signal.SIGSEGV, "killed by SIGSEGV: Fatal Python error: Segmentation fault"),
])
def test_a_crash_fails_the_call_and_the_next_call_restarts(data_dir, signum, message):
    gen_neu(small_pm(), "rm")
    [pid] = session.running_sessions()
    killer = threading.Timer(1.0, os.kill, (pid, signum))
    killer.start()
    with pytest.raises(single.SimulatorError, match=message) as info:
        gen_neu(long_pm(), "no-rm")                   # through files, kept
    killer.join()
    assert info.value.returncode == -signum
    assert not alive(pid) and session.running_sessions() == []
    result = gen_neu(small_pm(), "rm")                # a fresh process
    [new] = session.running_sessions()
    assert new != pid
    np.testing.assert_array_equal(result.volt, simulate(small_pm()).volt)
    assert not [p for p in data_dir.iterdir() if p.name.endswith(".tmp")]


def test_threads_get_a_process_each(data_dir):
    pms = [small_pm(seed=s, t=500.0) for s in (1, 2, 3)]
    results = [None] * 3

    def run(i):
        results[i] = gen_neu(pms[i], "rm")

    threads = [threading.Thread(target=run, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for pm, result in zip(pms, results):
        np.testing.assert_array_equal(result.volt, simulate(pm).volt)
    assert 1 <= len(session.running_sessions()) <= 3


# Runs gen_neu in a child interpreter: a short call, then a long one it is told to end.
SCRIPT = textwrap.dedent("""
    import os, sys
    from neunet import gen_neu, parameters
    from neunet.sim.warm import session
    pm = parameters()
    pm.update(t=20.0, seed=5)
    gen_neu(pm, "rm")
    print("session", session.running_sessions()[0], flush=True)

    class Started:
        def update(self, volt):
            print("running", flush=True)
            self.update = lambda volt: None
        def close(self, result):
            pass

    pm.update(t=2e5, nE=50, scee=0.001, stv=0.5, **{"neuron-model": "HH-GH"})
    try:
        gen_neu(pm, "rm", watcher=Started())
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        pm.update(t=20.0, nE=1)
        gen_neu(pm, "rm")
        print("session", session.running_sessions()[0], flush=True)
    folder = os.environ["NEUNET_DATA_DIR"]
    print("files", sorted(os.listdir(folder)) if os.path.exists(folder) else [], flush=True)
""")


def _child(data_dir):
    env = dict(os.environ, NEUNET_DATA_DIR=str(data_dir))
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT], env=env, stdout=subprocess.PIPE,
                            text=True)
    first = proc.stdout.readline().split()
    assert first[0] == "session", first
    assert proc.stdout.readline().strip() == "running"
    return proc, int(first[1])


def test_ctrl_c_interrupts_the_call_and_keeps_the_process(data_dir):
    proc, pid = _child(data_dir)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    lines = out.splitlines()
    assert lines[0] == "interrupted" and lines[1] == f"session {pid}"   # the same process
    assert lines[2] == "files []"                    # no temporary files left behind
    assert proc.returncode == 0
    assert wait_until(lambda: not alive(pid))        # gone with the interpreter


def test_the_process_ends_with_a_killed_interpreter_even_mid_call(data_dir):
    proc, pid = _child(data_dir)
    proc.kill()
    proc.wait()
    assert wait_until(lambda: not alive(pid), 10)
