"""Helpers shared by the distributed-runner tests: real processes on 127.0.0.1, free ports."""
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

# Repository root, put on PYTHONPATH of every child process.
ROOT = Path(__file__).resolve().parents[1]
# Interpreter of the test run.
PY = sys.executable


def env(**extra) -> dict:
    e = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    e.pop("NEUNET_TOKEN", None)
    e.update(extra)
    return e


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_tasks(path: Path, n: int, t_ms: float = 20, extra: str = "") -> Path:
    """A TASKS.py of n one-neuron tasks (pr varies, so all tids differ)."""
    path.write_text(
        "from neunet import parameters, grid\n"
        "pm = parameters(); pm['nE'] = 1; pm['nI'] = 0\n"
        f"pm['t'] = {t_ms}\n"
        f"tasks = grid(pm, pr=[0.5 + 0.01 * i for i in range({n})])\n" + extra)
    return path


def short_tasks(n: int, t_ms: float = 10) -> list:
    """n one-neuron task dicts as a worker receives them, estimated at 1 ms (short)."""
    import neunet
    from neunet.params import plain
    pm = neunet.parameters()
    pm.update(nE=1, nI=0, t=t_ms)
    return [{"tid": f"s{i}", "pm": plain(dict(pm, pr=0.5 + i * 1e-3)), "est_s": 0.001}
            for i in range(n)]


def coordinator(tasks_py, run_dir, port, *args, log=None, **env_extra) -> subprocess.Popen:
    cmd = [PY, "-m", "neunet.coordinator", str(tasks_py), "--run-dir", str(run_dir),
           "--port", str(port), *map(str, args)]
    return subprocess.Popen(cmd, env=env(**env_extra), stdout=subprocess.DEVNULL,
                            stderr=open(log, "ab") if log else subprocess.PIPE,
                            cwd=str(Path(tasks_py).parent))


def worker(port, slots=1, *args, log=None, **env_extra) -> subprocess.Popen:
    cmd = [PY, "-m", "neunet.worker", "--connect", f"127.0.0.1:{port}", "--slots", str(slots),
           *map(str, args)]
    return subprocess.Popen(cmd, env=env(**env_extra), stdout=subprocess.DEVNULL,
                            stderr=open(log, "ab") if log else subprocess.DEVNULL)


def rows(run_dir) -> list:
    """(tid, status, finished, attempts, worker, reason) of every task, straight from SQLite."""
    db = sqlite3.connect(f"file:{Path(run_dir) / 'index.sqlite'}?mode=ro", uri=True)
    try:
        return db.execute("SELECT tid, status, finished, attempts, worker, reason "
                          "FROM tasks ORDER BY tid").fetchall()
    except sqlite3.OperationalError as exc:  # polled while the coordinator creates the index
        if "no such table" in str(exc):
            return []
        raise
    finally:
        db.close()


def n_finished(run_dir) -> int:
    try:
        return sum(r[1] == "finished" for r in rows(run_dir))
    except sqlite3.Error:
        return 0


def wait_until(cond, timeout_s=60.0, step_s=0.05) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(step_s)
    return False


def dashboard_url(log: Path, timeout_s: float = 60.0) -> str:
    """The URL a coordinator (or `python -m neunet.dashboard`) printed into `log`."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        m = re.search(r"dashboard: (http://\S+)", log.read_text() if log.exists() else "")
        if m:
            return m.group(1)
        time.sleep(0.05)
    raise AssertionError(f"no dashboard URL in {log}: {log.read_text() if log.exists() else ''}")


def stop(*procs) -> None:
    """Kill test processes that are still running (by their own pids)."""
    for p in procs:
        if p is not None and p.poll() is None:
            try:
                os.kill(p.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
            p.kill()
            p.wait()


def tagged_env(**extra) -> tuple:
    """(env, tag): `env()` plus a unique NEUNET_TEST_TAG that every process started with it,
    and their children, inherit; `tagged_pids(tag)` then finds exactly those processes (not
    another test's or another user's neunet, as a machine-wide pgrep would)."""
    import uuid
    tag = uuid.uuid4().hex
    return env(NEUNET_TEST_TAG=tag, **extra), tag


def tagged_pids(tag: str) -> list:
    """Pids of the live processes whose environment holds NEUNET_TEST_TAG=`tag`."""
    needle = f"NEUNET_TEST_TAG={tag}".encode()
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                if needle in fh.read().split(b"\0"):
                    with open(f"/proc/{entry}/stat") as st:  # a zombie is gone already
                        if st.read().rsplit(")", 1)[1].split()[0] != "Z":
                            found.append(int(entry))
        except (OSError, IndexError):
            continue
    return found


def port_is_free(port: int) -> bool:
    """Can a new server listen on the port (as a restarted coordinator does, SO_REUSEADDR)?"""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            s.listen()
        except OSError:
            return False
    return True


def warm_numba_cache() -> None:
    """Compile the kernels the tests' tasks use once, in this process, so that the numba
    cache on disk is fresh and every slot process only loads it (on a clean checkout, slots
    compiling in parallel on a busy machine would otherwise take minutes)."""
    import neunet
    pm = neunet.parameters()
    pm.update(nE=1, nI=0, t=10, pr=0.5)
    neunet.simulate(pm)


class RawWorker:
    """A worker speaking the protocol by hand over a blocking socket, frame by frame: for
    attacks (forged, replayed, oversize frames) and for fake workers in fault tests."""

    def __init__(self, port: int, timeout_s: float = 30.0):
        from neunet.runner.wire import frames
        self.frames = frames
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout_s)
        self.challenge = frames.unpack(self.read_body())
        self.session = None

    def read_body(self) -> bytes:
        """The next frame's body, as it is (b"" when the connection closed)."""
        head = self.sock.recv(4, socket.MSG_WAITALL)
        if len(head) < 4:
            return b""
        (n,) = self.frames.HEADER.unpack(head)
        return self.sock.recv(n, socket.MSG_WAITALL)

    def hello(self, token: bytes, wid: str = "x", name: str = "raw", slots: int = 1) -> dict:
        """Send a sealed hello; return the welcome (or what came instead, unsealed)."""
        from neunet.runner.wire import auth
        cnonce = auth.new_nonce()
        self.session = auth.worker_session(token, self.challenge["nonce"], cnonce)
        self.send({"t": "hello", "worker": wid, "name": name, "slots": slots, "cnonce": cnonce})
        body = self.read_body()
        try:
            return self.frames.unpack(self.session.open(body))
        except self.frames.ProtocolError:
            return self.frames.unpack(body) if body else {}

    def join(self, token: bytes, held=(), running=(), **hello) -> dict:
        """hello + join: an authenticated worker; returns the welcome."""
        welcome = self.hello(token, **hello)
        assert welcome.get("t") == "welcome", welcome
        self.send({"t": "join", "running": list(running), "held": list(held)})
        return welcome

    def sealed(self, msg: dict) -> bytes:
        return self.session.seal(self.frames.pack_body(msg))

    def send(self, msg: dict) -> None:
        self.sock.sendall(self.sealed(msg))

    def send_result(self, tid: str, data: bytes, summary=None, real_s=0.1, **extra) -> None:
        """result + chunk + end of a result whose data is `data`."""
        head = {"t": "result", "tid": tid, "summary": summary or {"mean_rate": 1.0},
                "real_s": real_s, "size": len(data)}
        head.update(extra)
        self.send(head)
        if data:
            self.sock.sendall(b"".join(self.session.seal_chunk(self.frames.chunk_head(tid),
                                                               data)))
        self.send({"t": "end", "tid": tid})

    def recv(self) -> dict | None:
        """The next sealed message (None when the connection closed)."""
        body = self.read_body()
        return self.frames.unpack(self.session.open(body)) if body else None

    def recv_until(self, kind: str, limit: int = 1000) -> dict:
        """Messages until one of type `kind` (heartbeats need not be answered here)."""
        for _ in range(limit):
            msg = self.recv()
            if msg is None or msg["t"] == kind:
                return msg
        raise AssertionError(f"no {kind!r} in {limit} messages")

    def closed(self) -> bool:
        """True if the peer closed the connection without sending anything more."""
        try:
            return self.sock.recv(1) == b""
        except (ConnectionResetError, TimeoutError):
            return True

    def close(self) -> None:
        self.sock.close()
