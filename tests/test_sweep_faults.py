"""Fault tests of a whole sweep with real processes: SIGKILL, SIGSTOP, SIGINT, bad connections.

Each test checks through the run directory (SQLite) that every task is stored exactly once.
"""
import os
import signal
import socket
import time
from pathlib import Path

import pytest
from dist_helpers import (
    RawWorker,
    coordinator,
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

from neunet.runner.wire import auth, frames


@pytest.fixture(autouse=True, scope="module")
def _warm_cache():
    warm_numba_cache()


def _stored_once(run_dir, n):
    """Every task finished, one row and one data file each, no temp files left."""
    table = rows(run_dir)
    assert len(table) == n and len({r[0] for r in table}) == n
    assert {r[1] for r in table} == {"finished"}, table
    data = sorted(os.listdir(Path(run_dir) / "data"))
    assert data == sorted(f"{r[0]}.npz" for r in table)


def _log(path):
    return Path(path).read_text() if Path(path).exists() else ""


def test_sigkill_of_a_worker_mid_sweep_loses_nothing(tmp_path):
    n = 30
    port = free_port()
    coord = coordinator(write_tasks(tmp_path / "s.py", n, t_ms=5000), tmp_path / "run", port,
                        "--local-slots", 0, "--heartbeat-timeout", 2, log=tmp_path / "c.log")
    victim = worker(port, 1, "--name", "victim", "--prefetch", 3)
    other = None
    try:
        assert wait_until(lambda: n_finished(tmp_path / "run") >= 2, 180)
        other = worker(port, 1, "--name", "other")
        time.sleep(0.3)
        os.kill(victim.pid, signal.SIGKILL)  # holds up to 4 tasks, one of them running
        assert coord.wait(timeout=240) == 0, _log(tmp_path / "c.log")
    finally:
        stop(coord, victim, other)
    _stored_once(tmp_path / "run", n)
    assert "victim" in {r[4] for r in rows(tmp_path / "run")}
    # every task ran once, again after its run was lost with the victim (kept in its
    # history, not counted against its retries: nothing failed), or as a speculative copy
    history = _histories(tmp_path / "run")
    for tid, _, _, attempts, _, _ in rows(tmp_path / "run"):
        lost = sum(h["class"] == "lost" for h in history.get(tid, []))
        assert 1 + lost <= attempts <= 2 + lost
        assert all(h["class"] == "lost" and h["worker"] == "victim" for h in history.get(tid, []))


def test_sigstop_worker_is_declared_dead_and_its_tasks_requeued(tmp_path):
    n = 20
    port = free_port()  # tasks long enough that `other` cannot finish them all in 1.5 s
    coord = coordinator(write_tasks(tmp_path / "s.py", n, t_ms=40000), tmp_path / "run", port,
                        "--local-slots", 0, "--heartbeat-timeout", 1.5, log=tmp_path / "c.log")
    hung = worker(port, 1, "--name", "hung", "--prefetch", 3)
    other = None
    try:
        assert wait_until(lambda: n_finished(tmp_path / "run") >= 1, 180)
        os.kill(hung.pid, signal.SIGSTOP)
        other = worker(port, 1, "--name", "other")
        assert wait_until(lambda: "hung dropped: silent" in _log(tmp_path / "c.log"), 60)
        assert coord.wait(timeout=240) == 0, _log(tmp_path / "c.log")
    finally:
        stop(coord, hung, other)  # (stop sends SIGCONT before killing)
    _stored_once(tmp_path / "run", n)


def test_sigint_of_the_coordinator_then_the_same_command_resumes(tmp_path):
    n = 40
    port = free_port()
    tasks_py = write_tasks(tmp_path / "s.py", n, t_ms=5000)
    args = (tasks_py, tmp_path / "run", port, "--local-slots", 2)
    first = coordinator(*args, log=tmp_path / "c1.log")
    try:
        assert wait_until(lambda: n_finished(tmp_path / "run") >= 5, 180)
        first.send_signal(signal.SIGINT)
        assert first.wait(timeout=60) == 130, _log(tmp_path / "c1.log")
    finally:
        stop(first)
    assert port_is_free(port)
    before = {r[0]: r[2] for r in rows(tmp_path / "run") if r[1] == "finished"}
    assert 5 <= len(before) < n
    assert {r[1] for r in rows(tmp_path / "run")} <= {"finished", "not-assigned", "assigned",
                                                      "simulating", "filtering", "pulling"}
    second = coordinator(*args, log=tmp_path / "c2.log")  # same port, at once
    try:
        assert second.wait(timeout=240) == 0, _log(tmp_path / "c2.log")
    finally:
        stop(second)
    assert f"{len(before)} already finished" in _log(tmp_path / "c2.log")
    _stored_once(tmp_path / "run", n)
    after = {r[0]: r[2] for r in rows(tmp_path / "run")}
    assert all(after[tid] == t for tid, t in before.items())  # finished ones were not re-run
    assert port_is_free(port)


def test_malformed_oversize_and_unauthenticated_connections_are_refused(tmp_path):
    (tmp_path / "tok").write_text("the-token")
    n = 12
    port = free_port()
    log = tmp_path / "c.log"
    coord = coordinator(write_tasks(tmp_path / "s.py", n, t_ms=5000), tmp_path / "run", port,
                        "--local-slots", 0, "--token-file", tmp_path / "tok",
                        "--max-frame-mb", 1, log=log)
    real = None
    raws = []
    try:
        assert wait_until(lambda: not port_is_free(port), 120)
        real = worker(port, 1, "--token-file", tmp_path / "tok", "--name", "real")
        r = RawWorker(port)  # garbage instead of a frame
        r.sock.sendall(frames.HEADER.pack(57) + b"\x01" + b"t" * 16 + b"\xc1" * 40)
        assert r.closed()
        r = RawWorker(port)  # a 4 GB frame announced before authenticating
        r.sock.sendall(b"\xff\xff\xff\xff")
        assert r.closed()
        r = RawWorker(port)  # wrong token: told so, and nothing else
        assert r.hello(b"guess") == {"t": "refused", "reason": "wrong token", "code": "token"}
        assert r.closed()
        r = RawWorker(port)  # truncated frame, then silence and EOF
        r.session = auth.worker_session(b"the-token", r.challenge["nonce"], auth.new_nonce())
        r.sock.sendall(r.sealed({"t": "bye"})[:20])
        r.sock.shutdown(socket.SHUT_WR)
        assert r.closed()
        for wid, evil in (("a", frames.HEADER.pack(2 * 1024 * 1024) + b"\0" * 1000),
                          ("b", None), ("c", None)):
            raws.append(RawWorker(port))  # authenticated, then misbehaving
            raws[-1].join(b"the-token", wid=wid)
            if evil is not None:  # a 2 MB frame over the 1 MB limit
                raws[-1].sock.sendall(evil)
        raws[1].send({"t": "tasks", "tasks": []})  # a message a worker may not send
        raws[2].send({"t": "result", "tid": "t1", "summary": {}, "real_s": 1.0, "size": 10,
                      "spooled": True})  # a remote worker naming a file in our spool
        assert all(r.closed() for r in raws)
        assert coord.wait(timeout=240) == 0, _log(log)
    finally:
        stop(coord, real)
        for r in raws:
            r.close()
    text = _log(log)
    for reason in ("not valid msgpack", "exceeds the limit of 4096", "wrong token",
                   "truncated frame", "exceeds the limit of 1048576", "may not send 'tasks'",
                   "does not share the coordinator's spool"):
        assert reason in text, reason
    _stored_once(tmp_path / "run", n)
    assert {r[4] for r in rows(tmp_path / "run")} == {"real"}


def _histories(run_dir) -> dict:
    """tid -> the history of failed or lost runs of every task that has one."""
    import json
    import sqlite3
    db = sqlite3.connect(f"file:{run_dir / 'index.sqlite'}?mode=ro", uri=True)
    try:
        return {t: json.loads(h) for t, h in
                db.execute("SELECT tid, history FROM tasks WHERE history IS NOT NULL")}
    finally:
        db.close()


def _children(pid: int, needle: str) -> list:
    """Pids of the processes whose parent is `pid` and whose command line contains `needle`."""
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmd = fh.read().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid and needle in cmd:
            found.append(int(entry))
    return found


def test_sigkill_of_the_local_worker_starts_a_new_one_and_loses_nothing(tmp_path):
    n = 20
    log = tmp_path / "c.log"
    coord = coordinator(write_tasks(tmp_path / "s.py", n, t_ms=5000), tmp_path / "run",
                        free_port(), "--local-slots", 1, log=log)
    try:
        assert wait_until(lambda: n_finished(tmp_path / "run") >= 2, 180)
        [local] = _children(coord.pid, "neunet.worker")
        os.kill(local, signal.SIGKILL)
        assert coord.wait(timeout=240) == 0, _log(log)
    finally:
        stop(coord)
    assert "the local worker exited with status -9; starting it again" in _log(log)
    _stored_once(tmp_path / "run", n)
    assert not (tmp_path / "run" / ".spool").exists()


def test_sigkill_of_a_worker_also_ends_its_running_simulation(tmp_path):
    port = free_port()
    coord = coordinator(write_tasks(tmp_path / "s.py", 1, t_ms=4_000_000), tmp_path / "run",
                        port, "--local-slots", 0, log=tmp_path / "c.log")
    victim = worker(port, 1, "--name", "victim")
    try:
        index = tmp_path / "run" / "index.sqlite"
        assert wait_until(lambda: index.exists() and "simulating" in {
            r[1] for r in rows(tmp_path / "run")}, 120)
        # busy for a minute or so
        [slot] = _children(victim.pid, "neunet.runner.worker.slot_process")
        os.kill(victim.pid, signal.SIGKILL)
        assert wait_until(lambda: not os.path.exists(f"/proc/{slot}") or
                          open(f"/proc/{slot}/stat").read().split()[2] == "Z", 10)
    finally:
        stop(coord, victim)
