"""Failure classes with real processes: a bad input fails at once, a hang after the retries,
each with its class and reason, printed live; the sweep goes on; run.table()/run.failures()
show them."""
import os
import signal
import sqlite3
import subprocess
from pathlib import Path

import pytest
from dist_helpers import PY, env, free_port, stop, wait_until, worker

import neunet

pytestmark = pytest.mark.timeout(300)


def _sweep(tmp_path):
    bad = tmp_path / "bad_events.txt"
    bad.write_text("garbage here\n")
    path = tmp_path / "sweep.py"
    path.write_text(
        "from neunet import parameters, grid\n"
        "pm = parameters(); pm['nE'] = 1; pm['nI'] = 0; pm['t'] = 20\n"
        "tasks = grid(pm, pr=[0.5, 0.6, 0.7])\n"
        f"tasks.append(dict(pm, **{{'input-event-path': {str(bad)!r}}}))\n"
        "tasks.append(dict(pm, t=1e8))  # hangs for hours: killed at its timeout\n")
    return path


def test_bad_input_fails_at_once_and_a_hang_after_its_retries_with_class_and_reason(tmp_path):
    port = free_port()
    cmd = [PY, "-m", "neunet.coordinator", str(_sweep(tmp_path)), "--run-dir",
           str(tmp_path / "run"), "--port", str(port), "--local-slots", "0", "--retries", "1"]
    coord = subprocess.Popen(cmd, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True, cwd=str(tmp_path))
    w = worker(port, 2, "--min-timeout", 4, "--timeout-factor", 0)
    try:
        _, err = coord.communicate(timeout=150)
    finally:
        stop(coord, w)
    assert coord.returncode == 1, err
    table = neunet.open_run(tmp_path / "run").table().set_index("tid")
    assert (table.status == "finished").sum() == 3
    failed = table[table.status == "failed"]
    assert sorted(failed.failure_class) == ["input", "timeout"]
    fault = failed[failed.failure_class == "input"].iloc[0]
    assert "bad number 'garbage'" in fault.reason
    assert fault.attempts == 1  # deterministic: not retried like a crash
    hang = failed[failed.failure_class == "timeout"].iloc[0]
    assert "timed out after 4 s" in hang.reason
    assert hang.attempts == 2  # --retries 1: tried twice
    history = neunet.open_run(tmp_path / "run").history(hang.name)
    assert [h["class"] for h in history] == ["timeout", "timeout"]
    groups = neunet.open_run(tmp_path / "run").failures()
    assert sorted(groups["count"]) == [1, 1] and set(groups.failure_class) == {"input", "timeout"}
    # printed live: tid, class, the parameters that differ from the base, the reason
    lines = [ln for ln in err.splitlines() if " failed (" in ln]
    assert any(fault.name in ln and "input-event-path=" in ln and "bad number" in ln
               for ln in lines), err
    assert any(hang.name in ln and "(timeout)" in ln and "t=1" in ln for ln in lines), err


def _slot_pids(worker_pid) -> list:
    """Pids of the worker's simulator slots (its child processes)."""
    pids = []
    for task_dir in Path(f"/proc/{worker_pid}/task").iterdir():
        pids += [int(p) for p in (task_dir / "children").read_text().split()]
    return pids


def _status(run_dir):
    try:
        db = sqlite3.connect(f"file:{run_dir / 'index.sqlite'}?mode=ro", uri=True)
    except sqlite3.Error:
        return None
    try:
        return db.execute("SELECT status, attempts, failure_class, reason FROM tasks").fetchone()
    except sqlite3.Error:
        return None
    finally:
        db.close()


def test_simulator_killed_by_a_signal_is_a_fault_retried_then_failed(tmp_path):
    """As the OOM killer would: SIGKILL the slot running the task, on each attempt."""
    path = tmp_path / "sweep.py"
    path.write_text("from neunet import parameters\n"
                    "pm = parameters(); pm['nE'] = 1; pm['nI'] = 0; pm['t'] = 1e8\n"
                    "tasks = [pm]\n")
    run_dir, port = tmp_path / "run", free_port()
    cmd = [PY, "-m", "neunet.coordinator", str(path), "--run-dir", str(run_dir), "--port",
           str(port), "--local-slots", "0", "--retries", "1"]
    coord = subprocess.Popen(cmd, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True, cwd=str(tmp_path))
    w = worker(port, 1)
    try:
        for attempt in (1, 2):  # `attempts` counts the runs started
            assert wait_until(lambda a=attempt: (_status(run_dir) or ("",))[0] == "simulating"
                              and _status(run_dir)[1] == a, 120), _status(run_dir)
            for pid in _slot_pids(w.pid):
                os.kill(pid, signal.SIGKILL)
            assert wait_until(lambda: (_status(run_dir) or ("",))[0] != "simulating", 60)
        _, err = coord.communicate(timeout=60)
    finally:
        stop(coord, w)
    assert coord.returncode == 1, err
    status, attempts, klass, reason = _status(run_dir)
    assert (status, attempts, klass) == ("failed", 2, "fault")
    assert "killed by signal 9" in reason
    assert "failed (fault)" in err and "killed by signal 9" in err
