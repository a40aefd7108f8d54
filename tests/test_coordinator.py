"""The coordinator as a real process on 127.0.0.1: results, usage errors, exit status, port."""
import subprocess

import numpy as np
import pytest
from dist_helpers import (
    PY,
    coordinator,
    env,
    free_port,
    port_is_free,
    rows,
    stop,
    wait_until,
    warm_numba_cache,
    worker,
    write_tasks,
)

import neunet
from neunet.analysis import filters


@pytest.fixture(autouse=True, scope="module")
def _warm_cache():
    warm_numba_cache()


def _run(args, cwd, timeout=240):
    return subprocess.run([PY, "-m", "neunet.coordinator", *map(str, args)], env=env(),
                          capture_output=True, text=True, cwd=str(cwd), timeout=timeout)


def test_sweep_through_two_workers_equals_running_each_task_directly(tmp_path):
    tasks_py = write_tasks(tmp_path / "sweep.py", 10, t_ms=20000)  # both workers get some
    (tmp_path / "tok").write_text("s3cret\n")
    port = free_port()
    run_dir = tmp_path / "run"
    coord = coordinator(tasks_py, run_dir, port, "--local-slots", 0, "--token-file",
                        tmp_path / "tok")
    workers = []
    try:
        assert wait_until(lambda: not port_is_free(port), 30)
        workers = [worker(port, 1, "--token-file", tmp_path / "tok", "--name", f"w{i}")
                   for i in range(2)]
        _, err = coord.communicate(timeout=240)
        assert coord.returncode == 0, err.decode()
        for w in workers:
            assert w.wait(timeout=10) == 0  # told the sweep is complete, they exit
    finally:
        stop(coord, *workers)
    assert port_is_free(port)
    run = neunet.open_run(run_dir)
    table = run.table()
    assert len(table) == 10 and set(table.status) == {"finished"}
    assert set(table.worker) == {"w0", "w1"}
    for tid, pm in ((tid, run.params(tid)) for tid in table.tid):
        direct = neunet.simulate(pm)
        summary, kept = filters.apply_filter(None, direct, pm)
        got = run.load(tid)
        for key, arr in kept.items():
            if key in ("volt", "ras", "isi"):
                np.testing.assert_array_equal(getattr(got, key), arr)
        assert run.summary(tid)["n_spikes"] == summary["n_spikes"]


def test_a_bad_input_fails_its_task_at_once_with_the_simulator_message(tmp_path):
    """A malformed input file fails the same way wherever it runs: not retried (it was, like a
    crash, --retries times), class 'input', the run counted once, the others all finish."""
    (tmp_path / "bad.txt").write_text("not a matrix\n")
    extra = ("bad = dict(pm, net=%r)\ntasks = tasks + [bad]\n" % str(tmp_path / "bad.txt"))
    tasks_py = write_tasks(tmp_path / "sweep.py", 3, extra=extra)
    port = free_port()
    r = _run([tasks_py, "--run-dir", tmp_path / "run", "--port", port, "--local-slots", 2,
              "--retries", 1], tmp_path)
    assert r.returncode == 1, r.stderr
    by_status = {}
    for _tid, status, _, attempts, _, reason in rows(tmp_path / "run"):
        by_status.setdefault(status, []).append((attempts, reason))
    assert len(by_status["finished"]) == 3
    [(attempts, reason)] = by_status["failed"]
    assert attempts == 1 and "bad number 'not'" in reason
    assert "failed (input)" in r.stderr
    assert port_is_free(port)


@pytest.mark.parametrize("script, args, message", [
    (None, [], "no such file"),
    ("x = 1\n", [], "defines no `tasks`"),
    ("raise RuntimeError('oops')\n", [], "failed: RuntimeError: oops"),
    ("tasks = 5\n", [], "must be a list"),
    ("tasks = [{'nE': -1}]\n", [], "task 0"),
    ("tasks = []\nfilter = {'keep_if': 'mean_rate >> 2'}\n", [], "invalid filter"),
    ("tasks = []\n", ["--host", "0.0.0.0", "--local-slots", "0"], "without a token"),
    ("tasks = []\n", ["--port", "-5"], "not a port"),
    ("tasks = []\n", ["--bogus"], "unrecognized arguments"),
])
def test_bad_usage_exits_2_with_one_line(tmp_path, script, args, message):
    path = tmp_path / "t.py"
    if script is not None:
        path.write_text(script)
    r = _run([path, "--run-dir", tmp_path / "run", *args], tmp_path)
    assert r.returncode == 2
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_a_bad_sweep_stops_the_local_worker_started_before_it_was_loaded(tmp_path):
    import os
    (tmp_path / "t.py").write_text("import time\ntime.sleep(1.0)\nraise ValueError('late')\n")
    port = free_port()
    r = _run([tmp_path / "t.py", "--run-dir", tmp_path / "run", "--port", port,
              "--local-slots", 2], tmp_path)
    assert r.returncode == 2 and "late" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr  # nothing from the worker

    def workers_left():
        mine = f"--connect 127.0.0.1:{port}"
        left = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as fh:
                    if mine in fh.read().replace(b"\0", b" ").decode(errors="replace"):
                        left.append(pid)
            except OSError:
                pass
        return left
    assert workers_left() == []
    assert port_is_free(port)
    assert not (tmp_path / "run").exists()  # its spool went, and the run directory with it


def test_local_slots_hand_large_results_over_by_moving_their_spool_files(tmp_path):
    tasks_py = write_tasks(tmp_path / "sweep.py", 2, t_ms=20000)  # > 1 MiB: a spool file each
    run_dir = tmp_path / "run"
    r = _run([tasks_py, "--run-dir", run_dir, "--port", 0, "--local-slots", 1,
              "--log-level", "DEBUG"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("moved from the local spool") == 2  # no copy through the socket
    assert sorted(p.name for p in run_dir.iterdir()) == ["data", "index.sqlite", "lock"]
    run = neunet.open_run(run_dir)
    for tid in run.table().tid:
        pm = run.params(tid)
        _, kept = filters.apply_filter(None, neunet.simulate(pm), pm)
        np.testing.assert_array_equal(run.load(tid).volt, kept["volt"])
    assert not [p for p in (run_dir / "data").iterdir() if p.name.startswith(".")]


def test_busy_port_is_a_one_line_error_and_empty_sweep_exits_0(tmp_path):
    import socket
    (tmp_path / "t.py").write_text("tasks = []\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        r = _run([tmp_path / "t.py", "--port", s.getsockname()[1]], tmp_path)
    assert r.returncode == 2 and "cannot listen" in r.stderr
    r = _run([tmp_path / "t.py", "--port", 0, "--local-slots", 0], tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "runs" / "t" / "index.sqlite").exists()  # default run directory


def test_rerun_of_a_finished_sweep_runs_nothing_again(tmp_path):
    tasks_py = write_tasks(tmp_path / "sweep.py", 4)
    args = [tasks_py, "--run-dir", tmp_path / "run", "--port", 0, "--local-slots", 1]
    assert _run(args, tmp_path).returncode == 0
    before = rows(tmp_path / "run")
    r = _run(args, tmp_path)
    assert r.returncode == 0 and "4 already finished" in r.stderr
    assert rows(tmp_path / "run") == before
