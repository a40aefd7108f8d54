"""gen_neu's warm simulator process: started on first use, reused, restarted after a crash.

A `Session` is one private warm process (``python -m neunet.sim.warm.control session``)
connected by a socket pair; it runs calls one at a time in itself, so the kernels it loads
stay loaded. `borrowed()` lends an idle session of this Python process (starting one when
none is idle: concurrent threads get one each) and takes it back unless it died. A session
ends when the interpreter exits: its end of the socket closes and the process ends itself,
even in the middle of a call. Standard library only.
"""
from __future__ import annotations

import atexit
import contextlib
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from neunet.sim.warm import wire

# Seconds an interrupted call has to stop before its session is killed (and later replaced).
INTERRUPT_GRACE_S = 2.0
# Longest tail of a session's start-up log quoted when it fails to start (characters).
LOG_TAIL_CHARS = 2000


class SessionError(RuntimeError):
    """The warm process could not start; the message quotes the end of what it printed."""


class Session:
    """One warm simulator process serving this Python process.

    Parameters
    ----------
    env : dict, optional
        Environment of the process (default: this one).
    """

    def __init__(self, env=None):
        self.owner = os.getpid()
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.log = tempfile.TemporaryFile()
        command = [sys.executable, "-m", "neunet.sim.warm.control", "session",
                   "--fd", str(theirs.fileno())]
        try:
            self.proc = subprocess.Popen(command, pass_fds=[theirs.fileno()],
                                         stdin=subprocess.DEVNULL, stdout=self.log,
                                         stderr=self.log, start_new_session=True, env=env)
        finally:
            theirs.close()
        self.sock, self.dead = mine, False
        try:
            ready, _ = wire.recv(self.sock)
        except BaseException:
            self.kill()
            raise
        if ready is None or ready.get("t") != "ready":
            self.kill()
            raise SessionError(f"the warm simulator did not start: {self.log_tail()}")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def usable(self) -> bool:
        """Alive, and this process's own (not inherited through a fork)."""
        return not self.dead and self.owner == os.getpid() and self.proc.poll() is None

    def log_tail(self) -> str:
        """The end of what the process printed outside calls (start-up errors)."""
        self.log.seek(0)
        text = self.log.read().decode(errors="replace").strip()
        return text[-LOG_TAIL_CHARS:] or f"exit status {self.proc.poll()}"

    def call(self, argv, stdout=None, stderr=None, arrays=None) -> Call:
        """Start the command line `argv` (without the program name) in this session.

        Parameters
        ----------
        argv : list of str
        stdout, stderr : file, optional
            Text streams the call's output is copied to as it comes (it is kept either way).
        arrays : sequence of str, optional
            Keep these outputs (volt, ras, isi, conductance, ion_gate) in memory instead of
            writing files: `Call.blob` and `Call.layout` hold them after a successful call.
        """
        return Call(self, [str(a) for a in argv], stdout, stderr, arrays)

    def kill(self) -> None:
        """End the process now (a stuck or broken session)."""
        self.dead = True
        with contextlib.suppress(OSError):
            self.proc.kill()
        self.proc.wait()
        self.close()

    def close(self) -> None:
        """Close this end; the process ends itself."""
        self.dead = True
        self.sock.close()


class Call:
    """A command line running in a `Session`: its output so far and, at the end, its code."""

    def __init__(self, session: Session, argv, stdout, stderr, arrays=None):
        self.session, self.returncode = session, None
        self.out, self.err = [], []
        self.blob, self.layout = None, None      # arrays kept in memory (see Session.call)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        null = os.open(os.devnull, os.O_RDONLY)
        msg = {"t": "run", "argv": argv, "cwd": os.getcwd(), "env": dict(os.environ),
               "umask": _umask()}
        if arrays:
            msg["arrays"] = list(arrays)
        try:
            wire.send(session.sock, msg, [null, out_w, err_w])
        except OSError:
            wire.close_fds([out_r, err_r])
            session.dead = True
            raise
        finally:
            wire.close_fds([null, out_w, err_w])
        self.sel = selectors.DefaultSelector()
        self.sel.register(session.sock, selectors.EVENT_READ, None)
        self.sel.register(out_r, selectors.EVENT_READ, (self.out, stdout))
        self.sel.register(err_r, selectors.EVENT_READ, (self.err, stderr))

    def wait(self, timeout_s=None):
        """Copy output until the call ends or `timeout_s` passes; the exit code or None.

        A session that died during the call gives its negative signal (or exit status)."""
        end_s = None if timeout_s is None else time.monotonic() + timeout_s
        while self.returncode is None:
            left_s = None if end_s is None else end_s - time.monotonic()
            if left_s is not None and left_s <= 0:
                return None
            events = self.sel.select(left_s)
            if not events:
                return None
            answered = False
            for key, _ in events:
                if key.data is None:
                    answered = True
                else:
                    self._pump(key)
            if answered:
                self._finish()
        return self.returncode

    def _pump(self, key) -> None:
        chunk = os.read(key.fd, 65536)
        if not chunk:
            self.sel.unregister(key.fd)
            os.close(key.fd)
            return
        text = chunk.decode(errors="replace")
        kept, echo = key.data
        kept.append(text)
        if echo is not None:
            echo.write(text)
            echo.flush()

    def _finish(self) -> None:
        """The session answered (or died): take the code, drain the output pipes."""
        session = self.session
        try:
            reply, fds = wire.recv(session.sock, 1)
        except OSError:
            reply, fds = None, []
        if fds:
            self.blob, self.layout = _read_blob(fds[0]), (reply or {}).get("arrays")
        if reply is None:                           # the process died during the call
            session.dead = True
            session.proc.wait()
            self.returncode = session.proc.returncode
        else:
            self.returncode = int(reply.get("code", 1)) if reply.get("t") == "exit" else 2
            if reply.get("t") == "refused":
                self.err.append(f"warm simulator refused the call: {reply.get('reason')}\n")
        self.sel.unregister(session.sock)
        while len(self.sel.get_map()):
            for key, _ in self.sel.select():
                self._pump(key)
        self.sel.close()

    def interrupt(self) -> None:
        """ctrl-c: interrupt the call (as ctrl-c interrupts neunet-sim); a session that does
        not answer within INTERRUPT_GRACE_S is killed."""
        session = self.session
        with contextlib.suppress(OSError):
            os.kill(session.pid, signal.SIGINT)
        try:
            done = self.wait(INTERRUPT_GRACE_S)
        except BaseException:
            done = None
        if done is None:
            session.kill()
            self.close()

    def close(self) -> None:
        """Close the output pipes (a call given up on)."""
        for key in list(self.sel.get_map().values()):
            if key.data is not None:
                os.close(key.fd)
        self.sel.close()

    @property
    def stdout(self) -> str:
        return "".join(self.out)

    @property
    def stderr(self) -> str:
        return "".join(self.err)


def _read_blob(fd: int) -> bytearray:
    """The whole content of the anonymous file of a call's arrays (then closed)."""
    with open(fd, "rb") as f:
        blob = bytearray(os.fstat(fd).st_size)
        f.seek(0)                        # the writer's offset is shared: it is at the end
        if f.readinto(blob) != len(blob):
            raise OSError("the arrays of a warm call came back short")
    return blob


def _umask() -> int:
    mask = os.umask(0o22)
    os.umask(mask)
    return mask


# Idle sessions of this process, and every session it started (closed at exit).
_IDLE: list = []
_ALL: list = []
# Guards _IDLE and _ALL.
_LOCK = threading.Lock()


@contextlib.contextmanager
def borrowed(env=None):
    """Lend an idle live session of this process (starting one if none), then take it back.

    Parameters
    ----------
    env : dict, optional
        Environment of a session started here.
    """
    session = None
    with _LOCK:
        while _IDLE and session is None:
            candidate = _IDLE.pop()
            session = candidate if candidate.usable() else _drop(candidate)
    if session is None:
        session = Session(env)
        with _LOCK:
            _ALL.append(session)
    try:
        yield session
    finally:
        with _LOCK:
            if session.usable() and wire.rss_bytes(session.pid) <= wire.RETIRE_RSS_BYTES:
                _IDLE.append(session)
            else:
                _drop(session)            # dead, or holding the memory of a big run


def _drop(session):
    """Forget a dead session (under _LOCK); returns None."""
    if not session.dead and session.owner == os.getpid():
        session.kill()
    session.dead = True
    if session in _ALL:
        _ALL.remove(session)
    return None


def running_sessions() -> list:
    """Process ids of this process's live sessions."""
    with _LOCK:
        return [s.pid for s in _ALL if s.usable()]


def close_all() -> None:
    """Close every session of this process (at exit; also usable to free the memory)."""
    with _LOCK:
        sessions, _ALL[:], _IDLE[:] = list(_ALL), [], []
    for session in sessions:
        if session.owner == os.getpid():
            session.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                session.proc.wait(1.0)


def _forget_after_fork() -> None:
    """In a forked child: the parent's sessions are not ours (their sockets are copies)."""
    global _LOCK
    _LOCK = threading.Lock()          # another thread may have held it at the fork
    for session in _ALL:
        with contextlib.suppress(OSError):
            session.sock.close()
    _ALL.clear()
    _IDLE.clear()


atexit.register(close_all)
os.register_at_fork(after_in_child=_forget_after_fork)
