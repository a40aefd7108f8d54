"""What a sweep reports is what its run directory holds, through faults (issue 16).

A full disk (a real, small tmpfs) pauses the sweep and it resumes once space is freed,
losing nothing; workers are told "done" only when every result is durable; a coordinator
restarted while a worker holds finished results takes them without running the tasks again;
a worker stopped by SIGTERM hands its waiting tasks back at once; resuming a finished sweep
starts no worker. Real processes, real files, bounded waits.
"""
import os
import signal
import sqlite3
import subprocess
import time

import pytest
from dist_helpers import (
    PY,
    RawWorker,
    coordinator,
    env,
    free_port,
    n_finished,
    port_is_free,
    rows,
    stop,
    wait_until,
    warm_numba_cache,
    worker,
    write_tasks,
)

from neunet.store.npz import encode_arrays

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(autouse=True, scope="module")
def _warm_cache():
    warm_numba_cache()


def _log(path) -> str:
    return path.read_text() if path.exists() else ""


def _stored_once(run_dir, n):
    table = rows(run_dir)
    assert len(table) == n and {r[1] for r in table} == {"finished"}, table
    return table


@pytest.fixture
def small_disk(tmp_path):
    """A 24 MB tmpfs mounted for the test (skipped where mounting is not allowed)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


@pytest.mark.parametrize("n, t_ms, free_kb", [(10, 5000, 3000), (400, 20, 1500)])
def test_a_full_disk_pauses_the_sweep_and_it_resumes_losing_nothing(tmp_path, small_disk, n,
                                                                   t_ms, free_kb):
    """Results of 1.3 MB (received into temp files) or of a few KB (written into the index
    by the journal) on a disk that fills up: one message, no result lost or failed, and once
    a filler file is deleted the sweep ends with every task stored once, and the closing line
    matches the store (a full disk once dropped 1386 of 4000 results while the status said
    'done')."""
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * (24 * 1024 - free_kb) * 1024)
    run_dir = small_disk / "run"
    port = free_port()
    log = tmp_path / "c.log"
    coord = coordinator(write_tasks(tmp_path / "s.py", n, t_ms=t_ms), run_dir, port,
                        "--local-slots", 0, log=log)
    w = None
    try:
        assert wait_until(lambda: not port_is_free(port), 120)
        w = worker(port, 2, "--spool-dir", tmp_path / "spool")
        assert wait_until(lambda: "disk full" in _log(log), 180), _log(log)
        time.sleep(2.0)  # paused: results keep waiting with the worker, nothing fails
        assert "failed (" not in _log(log) and coord.poll() is None
        filler.unlink()
        assert coord.wait(timeout=240) == 0, _log(log)
    finally:
        stop(coord, w)
    table = _stored_once(run_dir, n)
    text = _log(log)
    assert text.count("disk full") <= 3 and "the sweep resumes after" in text
    assert f"sweep done: {n} finished, 0 failed of {n}" in text
    assert "Traceback" not in text
    assert all(r[3] >= 1 for r in table)
    assert not list(run_dir.rglob("*.part"))


def test_done_is_sent_only_when_every_result_is_durable(tmp_path):
    """Three fake workers return 300 tiny results as fast as they can; when they are told
    the sweep is done, the run directory already holds every one of them."""
    n = 300
    port = free_port()
    (tmp_path / "tok").write_text("t")
    coord = coordinator(write_tasks(tmp_path / "s.py", n), tmp_path / "run", port,
                        "--local-slots", 0, "--token-file", tmp_path / "tok",
                        log=tmp_path / "c.log")
    data = encode_arrays({"v": [1.0, 2.0]})
    fakes = []
    try:
        assert wait_until(lambda: not port_is_free(port), 120)
        for i in range(3):
            fakes.append(RawWorker(port))
            fakes[-1].join(b"t", wid=f"fake{i}", slots=8)
        done_seen = []
        for _ in range(400):
            for raw in fakes:
                if raw in done_seen:
                    continue
                raw.send({"t": "request", "n": 8})
                msg = raw.recv()
                while msg is not None and msg["t"] not in ("tasks", "shutdown"):
                    msg = raw.recv()
                if msg is None or msg["t"] == "shutdown":
                    assert msg is not None and msg["mode"] == "done"
                    assert n_finished(tmp_path / "run") == n  # durable before "done"
                    done_seen.append(raw)
                    continue
                for task in msg["tasks"]:
                    raw.send_result(task["tid"], data)
            if len(done_seen) == len(fakes):
                break
        assert len(done_seen) == len(fakes)
        assert coord.wait(timeout=60) == 0
    finally:
        stop(coord)
        for raw in fakes:
            raw.close()
    _stored_once(tmp_path / "run", n)


def test_a_restarted_coordinator_takes_the_results_a_worker_held_without_rerunning(tmp_path):
    """SIGKILL the coordinator while a remote worker runs every task; the worker keeps the
    results it finishes meanwhile and delivers them to the new coordinator: each task is
    stored once, by that worker, none run twice."""
    n = 4
    port = free_port()
    tasks_py = write_tasks(tmp_path / "s.py", n, t_ms=1e5, extra="filter = 'n < 0'\n")
    args = (tasks_py, tmp_path / "run", port, "--local-slots", 0)
    first = coordinator(*args, log=tmp_path / "c1.log")
    w = second = None
    try:
        assert wait_until(lambda: not port_is_free(port), 120)
        w = worker(port, n, "--name", "keeper", log=tmp_path / "w.log")
        assert wait_until(lambda: sum(r[1] == "simulating" for r in rows(tmp_path / "run"))
                          == n, 120)
        first.send_signal(signal.SIGKILL)
        first.wait()
        time.sleep(4.0)  # the tasks (~1 s each) finish while no coordinator is up
        second = coordinator(*args, log=tmp_path / "c2.log")
        assert second.wait(timeout=240) == 0, _log(tmp_path / "c2.log")
        assert w.wait(timeout=60) == 0
    finally:
        stop(first, second, w)
    table = _stored_once(tmp_path / "run", n)
    assert {r[4] for r in table} == {"keeper"}
    assert all(r[3] == 1 for r in table), table  # started once each: nothing ran twice


def test_sigterm_hands_a_workers_waiting_tasks_back_at_once(tmp_path):
    """A draining worker (SIGTERM, as SLURM sends at a job's end) finishes the task it runs
    and returns the ones it holds waiting: another worker runs those while it finishes."""
    n = 5
    port = free_port()
    tasks_py = write_tasks(tmp_path / "s.py", n, t_ms=1e5, extra="filter = 'n < 0'\n")
    coord = coordinator(tasks_py, tmp_path / "run", port, "--local-slots", 0,
                        log=tmp_path / "c.log")
    drained = other = None
    try:
        assert wait_until(lambda: not port_is_free(port), 120)
        drained = worker(port, 1, "--prefetch", 4, "--name", "drained")
        assert wait_until(lambda: sum(r[1] == "simulating" for r in rows(tmp_path / "run"))
                          == 1 and sum(r[1] == "assigned" for r in rows(tmp_path / "run"))
                          == n - 1, 120)
        drained.send_signal(signal.SIGTERM)
        assert wait_until(lambda: sum(r[1] == "not-assigned"
                                      for r in rows(tmp_path / "run")) == n - 1, 30)
        other = worker(port, 1, "--name", "other")
        assert drained.wait(timeout=60) == 0
        assert coord.wait(timeout=240) == 0
    finally:
        stop(coord, drained, other)
    table = _stored_once(tmp_path / "run", n)
    assert sorted(r[4] for r in table) == ["drained"] + ["other"] * (n - 1)


def test_resuming_a_finished_sweep_starts_no_local_worker(tmp_path):
    tasks_py = write_tasks(tmp_path / "s.py", 3)
    cmd = [PY, "-m", "neunet.coordinator", str(tasks_py), "--run-dir", str(tmp_path / "run"),
           "--port", "0", "--local-slots", "1"]
    first = subprocess.run(cmd, env=env(), capture_output=True, text=True, timeout=240,
                           cwd=str(tmp_path))
    assert first.returncode == 0, first.stderr
    again = subprocess.run(cmd, env=env(), capture_output=True, text=True, timeout=240,
                           cwd=str(tmp_path))
    assert again.returncode == 0, again.stderr
    assert "3 already finished" in again.stderr and "joined" not in again.stderr
    assert not (tmp_path / "run" / ".spool").exists()
    db = sqlite3.connect(f"file:{tmp_path / 'run' / 'index.sqlite'}?mode=ro", uri=True)
    assert db.execute("SELECT COUNT(*) FROM tasks WHERE attempts = 1").fetchone()[0] == 3
    db.close()
    assert os.listdir(tmp_path / "run" / "data") == []  # small results live in the index
