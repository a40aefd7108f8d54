"""neunet.lab: the original's lab and Servant, as real processes on 127.0.0.1.

The original interface's three demo scripts (tests/data/seed_demos: translated to Python 3,
only the imports changed) run as written, on a free port instead of 22222.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from dist_helpers import wait_until

import neunet
from neunet.lab import LabError, lab, parse_gen_cmd
from neunet.store import StoreError

DEMOS = Path(__file__).parent / "data" / "seed_demos"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def copy_demo(name, folder, port):
    text = (DEMOS / name).read_text()
    assert "PORT = 22222" in text
    (folder / name).write_text(text.replace("PORT = 22222", f"PORT = {port}", 1))


def run_env():
    return dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=str(Path(neunet.__file__).parents[1]))


def test_the_seed_demos_run_as_written(tmp_path):
    port = free_port()
    for name in ("server_demo.py", "servant_demo.py"):
        copy_demo(name, tmp_path, port)
    env = run_env()
    server = subprocess.Popen([sys.executable, "server_demo.py"], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    servants = [subprocess.Popen([sys.executable, "servant_demo.py"], cwd=tmp_path, env=env,
                                 stderr=subprocess.PIPE, text=True) for _ in range(2)]
    out, err = server.communicate(timeout=600)
    assert server.returncode == 0, err
    assert out.startswith("tasks generated: 40\n")
    for servant in servants:
        assert servant.wait(timeout=120) == 0, servant.stderr.read()
    run = neunet.open_run(tmp_path / "runs" / "server_demo")
    assert run.counts() == {"finished": 200}
    table = run.table()
    assert sorted(table.t.unique()) == [100.0, 1000.0] and (table.t == 1000.0).sum() == 80
    demo = subprocess.run([sys.executable, str(DEMOS / "gen_neu_demo.py")], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert demo.returncode == 0, demo.stderr
    assert "[(None, 'volt'), (None, 'ras'), (None, 'isi')]" in demo.stdout


# A lab of five tasks (the last one long), extra-data, printing what start() returns.
LAB_SCRIPT = textwrap.dedent("""
    import json, sys
    from neunet import lab, parameters, grid
    pm = parameters()
    pm.update(t=50.0, nE=2, pr=1.0, ps=0.05)
    tasks = grid(pm, seed=[1, 2, 3, 4]) + grid(pm, t=[float(sys.argv[2])])
    l = lab(tasks, "127.0.0.1", int(sys.argv[1]), gen_cmd="rm extra-data")
    try:
        tasks = l.start()
    except KeyboardInterrupt:
        print(json.dumps({"interrupted": l.run.counts()}), flush=True)
        sys.exit(130)
    print(json.dumps([[t.tid, t.status, t.time, t.assigned_to, t.data.kinds]
                      for t in tasks]), flush=True)
""")


def finished(run_dir) -> int:
    """Finished tasks in a run directory (0 while it is being created)."""
    try:
        return neunet.open_run(run_dir).counts().get("finished", 0)
    except StoreError:
        return 0


def _lab(tmp_path, port, long_t):
    (tmp_path / "sweep_lab.py").write_text(LAB_SCRIPT)
    return subprocess.Popen([sys.executable, "sweep_lab.py", str(port), str(long_t)],
                            cwd=tmp_path, env=run_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_lab_stops_on_ctrl_c_resumes_and_returns_the_tasks_filled_in(tmp_path):
    port = free_port()
    first = _lab(tmp_path, port, 1e5)          # the long task: seconds
    servant = subprocess.Popen(
        [sys.executable, "-c", f"from neunet import Servant; Servant(('127.0.0.1', {port}), "
                               f"slots=2, name='s1').start()"],
        cwd=tmp_path, env=run_env(), stderr=subprocess.PIPE, text=True)
    run_dir = tmp_path / "runs" / "sweep_lab"
    assert wait_until(lambda: finished(run_dir) == 4, 120)
    first.send_signal(signal.SIGINT)
    out, err = first.communicate(timeout=120)
    assert first.returncode == 130, err
    assert json.loads(out)["interrupted"].get("finished") == 4
    before = neunet.open_run(run_dir).table().set_index("tid")
    second = _lab(tmp_path, port, 1e5)          # the same tasks: resumes, port reused
    out, err = second.communicate(timeout=600)
    assert second.returncode == 0, err
    assert err == ""                            # no 'v' in gen_cmd: quiet
    tasks = json.loads(out)
    assert [t[1] for t in tasks] == ["finished"] * 5
    after = neunet.open_run(run_dir).table().set_index("tid")
    for tid, _, (cost, est_s, real_s), assigned, kinds in tasks:
        assert cost > 0 and est_s > 0 and real_s > 0 and assigned == ["s1"]
        assert kinds == ["volt", "ras", "isi", "conductance", "ion-gate"]
        if before.loc[tid, "status"] == "finished":            # not run again
            assert after.loc[tid, "finished"] == before.loc[tid, "finished"]
    assert servant.wait(timeout=120) == 0, servant.stderr.read()   # the sweep is over


def test_gen_cmd_words():
    assert parse_gen_cmd("v rm") == {"v", "rm"}
    assert parse_gen_cmd("no-rm extro-data") == {"no-rm", "extra-data"}   # the seed's typo
    with pytest.raises(LabError, match="no meaning for a lab"):
        parse_gen_cmd("v nameX")
    with pytest.raises(LabError, match="did you mean 'rm'"):
        parse_gen_cmd("v rmm")
    one = lab([], "127.0.0.1", 0, gen_cmd="extra-data", filter={"keep": "ras"})
    assert one.filter == {"keep": ["ras", "conductance", "ion_gate"]}


def test_bad_tasks_are_one_clear_error(tmp_path):
    with pytest.raises(LabError, match="task 0"):
        lab([{"neuron-model": "HH-XX"}], "127.0.0.1", 0, run_dir=tmp_path / "r").start()
