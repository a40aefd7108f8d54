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
    assert {r[3] for r in rows(tmp_path / "run")} == {0}  # a lost worker costs no attempt


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


def _read_frame(s):
    (size,) = frames.HEADER.unpack(s.recv(frames.HEADER.size, socket.MSG_WAITALL))
    return frames.unpack(s.recv(size, socket.MSG_WAITALL))


def _connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    challenge = _read_frame(s)
    assert challenge["t"] == "challenge"
    return s, challenge


def _closed(s) -> bool:
    """True if the peer closed the connection without sending anything more."""
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True


def _hello(challenge, token, wid="x"):
    cnonce = auth.new_nonce()
    return frames.pack({"t": "hello", "worker": wid, "name": "intruder", "slots": 4,
                          "cnonce": cnonce, "running": [], "held": [],
                          "mac": auth.worker_proof(token, challenge["nonce"], cnonce)})


def test_malformed_oversize_and_unauthenticated_connections_are_refused(tmp_path):
    (tmp_path / "tok").write_text("the-token")
    n = 12
    port = free_port()
    log = tmp_path / "c.log"
    coord = coordinator(write_tasks(tmp_path / "s.py", n, t_ms=5000), tmp_path / "run", port,
                        "--local-slots", 0, "--token-file", tmp_path / "tok",
                        "--max-frame-mb", 1, log=log)
    real = None
    socks = []
    try:
        assert wait_until(lambda: not port_is_free(port), 120)
        real = worker(port, 1, "--token-file", tmp_path / "tok", "--name", "real")
        s, _ = _connect(port)  # garbage instead of a frame
        s.sendall(b"\x00\x00\x00\x05\xc1\xc1\xc1\xc1\xc1")
        assert _closed(s)
        s, _ = _connect(port)  # a 4 GB frame announced before authenticating
        s.sendall(b"\xff\xff\xff\xff")
        assert _closed(s)
        s, ch = _connect(port)  # wrong token: gets nothing
        s.sendall(_hello(ch, b"guess"))
        assert _closed(s)
        s, ch = _connect(port)  # truncated frame, then silence and EOF
        s.sendall(_hello(ch, b"the-token")[:20])
        s.shutdown(socket.SHUT_WR)
        assert _closed(s)
        s, ch = _connect(port)  # authenticated, then a 2 MB frame over the 1 MB limit
        s.sendall(_hello(ch, b"the-token"))
        welcome = _read_frame(s)
        assert welcome["t"] == "welcome"
        s.sendall(frames.HEADER.pack(2 * 1024 * 1024) + b"\0" * 1000)
        socks.append(s)
        s2, ch = _connect(port)  # authenticated, then a message a worker may not send
        s2.sendall(_hello(ch, b"the-token") + frames.pack({"t": "tasks", "tasks": []}))
        socks.append(s2)
        s3, ch = _connect(port)  # a remote worker naming a file in the coordinator's spool
        s3.sendall(_hello(ch, b"the-token", wid="y") + frames.pack({
            "t": "result", "tid": "t1", "summary": {}, "real_s": 1.0, "size": 10,
            "spooled": True}))
        socks.append(s3)
        assert coord.wait(timeout=240) == 0, _log(log)
    finally:
        stop(coord, real)
        for s in socks:
            s.close()
    text = _log(log)
    for reason in ("not valid msgpack", "exceeds the limit of 65536", "wrong token",
                   "truncated frame", "exceeds the limit of 1048576", "may not send 'tasks'",
                   "does not share the coordinator's spool"):
        assert reason in text, reason
    _stored_once(tmp_path / "run", n)
    assert {r[4] for r in rows(tmp_path / "run")} == {"real"}


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
