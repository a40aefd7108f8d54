"""The warm simulator program: loads the engine once, then runs command-line calls on request.

Two ways to serve (started by ``python -m neunet.sim.warm.control``):

- ``run``: this user's server for ``neunet-sim`` (`neunet.sim.warm.client`). It warms every
  model and method, then listens on a Unix socket in a folder only its owner can enter
  (socket mode 600, and the peer's uid is checked). Each call goes to a worker process
  forked from the warm server (an idle one, or a new one when all are busy, so calls run
  side by side) that runs it in itself with the caller's stdio, folder, environment and
  umask; the caller's signals are forwarded (SIGINT interrupts the call as ctrl-c does;
  SIGTERM and the other deadly ones end the worker, whose status the caller takes on);
  the server answers with the exit status and stops itself after an idle period. A call
  from another neunet installation or version is refused (the client then runs it
  itself). The ``start``/``stop``/``status`` commands are `neunet.sim.warm.control`.
- ``session --fd N``: the private warm process of one Python session's ``gen_neu``
  (`neunet.sim.warm.session`): calls arrive one at a time on an inherited socket and run in
  this process (no fork: the kernels it loads stay loaded); SIGINT interrupts the running
  call only; the process ends when its parent's end of the socket closes.
"""
from __future__ import annotations

import os
import selectors
import signal
import socket
import time

from neunet.sim.warm import run, wire

# Seconds a new connection has to send its request.
REQUEST_TIMEOUT_S = 5.0
# Most idle workers kept (more are ended when their call is over).
MAX_IDLE_WORKERS = max(2, os.cpu_count() or 2)
class _Worker:
    """A forked session process of the server, and the caller whose call it runs (if any)."""

    def __init__(self, pid: int, sock):
        self.pid, self.sock, self.conn = pid, sock, None


class Server:
    """The per-user server's loop (see the module docstring).

    Calls run in worker processes forked from this warm process: each serves one call at a
    time in itself (`serve_session`), so a call costs no fork and no warm-up; a worker that
    dies (a crash, or a forwarded SIGTERM) is replaced, and its caller gets its status.

    Parameters
    ----------
    listener : socket.socket
        Bound and listening Unix socket.
    ident : str
        `wire.identity()` of this installation; calls must present the same.
    idle_s : float
        Stop after this many seconds without a call.
    """

    def __init__(self, listener, ident: str, idle_s: float):
        self.listener, self.ident, self.idle_s = listener, ident, idle_s
        self.sel = selectors.DefaultSelector()
        self.workers: list = []
        self.callers: dict = {}               # caller's connection -> its worker
        self.served, self.started_s, self.stopping = 0, time.time(), False
        self.last_s = time.monotonic()
        self.sel.register(listener, selectors.EVENT_READ, "accept")
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)
        self.sel.register(self.wake_r, selectors.EVENT_READ, "wake")

    def serve(self) -> None:
        """Serve until stopped (SIGTERM, SIGINT, a ``stop`` request) or idle."""
        old = {s: signal.signal(s, self._on_stop) for s in (signal.SIGTERM, signal.SIGINT)}
        signal.set_wakeup_fd(self.wake_w)
        try:
            self._spawn()                     # the first call finds a worker waiting
            while self.callers or not (self.stopping or self._idle_over()):
                self._step()
        finally:
            signal.set_wakeup_fd(-1)
            for s, handler in old.items():
                signal.signal(s, handler)
            self._close_listener()
            for worker in list(self.workers):
                self._retire(worker)

    def _idle_over(self) -> bool:
        return time.monotonic() - self.last_s >= self.idle_s

    def _on_stop(self, _signum, _frame) -> None:
        self.stopping = True

    def _step(self) -> None:
        timeout = None if self.callers else max(0.0, self.last_s + self.idle_s
                                                - time.monotonic())
        for key, _ in self.sel.select(timeout):
            if key.data == "accept":
                self._accept()
            elif key.data == "wake":
                os.read(self.wake_r, 512)
            elif key.data == "caller":
                self._from_caller(key.fileobj)
            else:
                self._from_worker(key.data)
        if self.callers:
            self.last_s = time.monotonic()
        if self.stopping:
            self._close_listener()

    def _accept(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        self.last_s = time.monotonic()
        try:
            if _peer_uid(conn) != os.geteuid():
                raise PermissionError("caller of another user")
            conn.settimeout(REQUEST_TIMEOUT_S)
            msg, fds = wire.recv(conn, wire.STDIO_FDS)
            if msg is None or not self._request(conn, msg, fds):
                conn.close()
        except (OSError, ValueError):
            conn.close()

    def _request(self, conn, msg: dict, fds: list) -> bool:
        """Handle a connection's first frame; True when the connection stays open."""
        kind = msg.get("t")
        if kind != "run":
            wire.close_fds(fds)
            if kind == "status":
                wire.send(conn, self.status())
            elif kind == "stop":
                self.stopping = True
                wire.send(conn, {"t": "stopping", "running": len(self.callers)})
            return False
        try:
            if msg.get("identity") != self.ident:
                raise run.BadRequest(f"this server runs {self.ident}")
            run.check_request(msg, fds)
            if msg.get("arrays"):
                raise run.BadRequest("arrays are for session calls only")
        except run.BadRequest as exc:
            wire.close_fds(fds)
            wire.send(conn, {"t": "refused", "reason": str(exc)})
            return False
        self._dispatch(conn, msg, fds)
        return True

    def _dispatch(self, conn, msg: dict, fds: list) -> None:
        """Hand the call to an idle worker (forking one if none), with the caller's stdio."""
        try:
            worker = next((w for w in self.workers if w.conn is None), None) or self._spawn()
            wire.send(worker.sock, msg, fds)
        finally:
            wire.close_fds(fds)
        conn.settimeout(None)
        worker.conn, self.callers[conn] = conn, worker
        self.served += 1
        self.sel.register(conn, selectors.EVENT_READ, "caller")
        if all(w.conn is not None for w in self.workers):
            self._spawn()                     # the next call finds one waiting too

    def _spawn(self) -> _Worker:
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        pid = os.fork()
        if pid == 0:                                   # the worker: serve calls, then exit
            code = 1
            try:
                mine.close()
                self._become_worker()
                code = serve_session(theirs)
            finally:
                os._exit(code)
        theirs.close()
        wire.recv(mine)                                # its "ready"
        worker = _Worker(pid, mine)
        self.workers.append(worker)
        self.sel.register(mine, selectors.EVENT_READ, worker)
        return worker

    def _become_worker(self) -> None:
        """In a forked worker: drop the server's sockets and signal handlers."""
        signal.set_wakeup_fd(-1)
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, signal.SIG_DFL)
        self.sel.close()
        for sock in [self.listener, *self.callers, *(w.sock for w in self.workers)]:
            sock.close()
        wire.close_fds([self.wake_r, self.wake_w])

    def _from_caller(self, conn) -> None:
        """A forwarded signal, or the caller gone (its call is killed)."""
        worker = self.callers.get(conn)
        try:
            msg, fds = wire.recv(conn)
        except OSError:
            msg, fds = None, []
        wire.close_fds(fds)
        names = {getattr(signal, n) for n in wire.FORWARDED_SIGNALS}
        if msg is None:                                # the caller died: so does its call
            self._hang_up(conn)
            if worker is not None:
                worker.conn = None
                _kill(worker.pid, signal.SIGKILL)
        elif worker is not None and msg.get("t") == "signal" and msg.get("signal") in names:
            _kill(worker.pid, msg["signal"])           # SIGINT: the call's ctrl-c; the
            #                                            others end the worker as a process

    def _from_worker(self, worker: _Worker) -> None:
        """A call's exit reply, or the worker's death (its caller gets the status)."""
        try:
            msg, _ = wire.recv(worker.sock)
        except OSError:
            msg = None
        if msg is None:
            code = self._retire(worker)
        else:
            code = msg.get("code", 1) if msg.get("t") == "exit" else 1
        conn, worker.conn = worker.conn, None
        if conn is not None:
            try:
                wire.send(conn, {"t": "exit", "code": code})
            except OSError:
                pass
            self._hang_up(conn)
        idle = [w for w in self.workers if w.conn is None]
        if msg is not None and (len(idle) > MAX_IDLE_WORKERS or wire.rss_bytes(worker.pid)
                                > wire.RETIRE_RSS_BYTES):
            self._retire(worker)

    def _hang_up(self, conn) -> None:
        self.callers.pop(conn, None)
        try:
            self.sel.unregister(conn)
        except (KeyError, ValueError):
            pass
        conn.close()

    def _retire(self, worker: _Worker) -> int:
        """End a worker (if it still runs) and reap it; its exit status (negative: signal)."""
        self.workers.remove(worker)
        self.sel.unregister(worker.sock)
        worker.sock.close()
        _kill(worker.pid, signal.SIGKILL)              # no-op for one that died already
        _, status = os.waitpid(worker.pid, 0)
        return os.waitstatus_to_exitcode(status)

    def status(self) -> dict:
        """The ``status`` reply: who this is and what it has done."""
        return {"t": "status", "identity": self.ident, "pid": os.getpid(),
                "started": self.started_s, "served": self.served,
                "running": len(self.callers), "workers": len(self.workers),
                "busy_workers": [w.pid for w in self.workers if w.conn is not None],
                "idle_timeout_s": self.idle_s, "socket": self.listener.getsockname()}

    def _close_listener(self) -> None:
        if self.listener.fileno() >= 0:
            path = self.listener.getsockname()
            self.sel.unregister(self.listener)
            self.listener.close()
            try:
                os.unlink(path)
            except OSError:
                pass


def _kill(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _peer_uid(conn) -> int:
    """The connecting process's uid (Linux SO_PEERCRED); where the system cannot tell, the
    folder's mode 700 is the only gate and this returns our own uid."""
    import struct
    if not hasattr(socket, "SO_PEERCRED"):
        return os.geteuid()
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[1]


def serve_session(sock) -> int:
    """The private session loop (see the module docstring): ``ready``, then calls in turn."""
    _die_with_peer(sock)
    running = [False]

    def interrupt(_signum, _frame):
        if running[0]:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupt)
    wire.send(sock, {"t": "ready", "pid": os.getpid(), "identity": wire.identity()})
    while True:
        msg, fds = wire.recv(sock, wire.STDIO_FDS)
        if msg is None:
            return 0
        if msg.get("t") != "run":
            wire.close_fds(fds)
            continue
        try:
            run.check_request(msg, fds)
        except run.BadRequest as exc:
            wire.close_fds(fds)
            wire.send(sock, {"t": "refused", "reason": str(exc)})
            continue
        outputs = run.ArrayOutputs(msg["arrays"]) if msg.get("arrays") else None
        running[0] = True
        try:
            code = run.run_request(msg, fds, restore=True, outputs=outputs)
        finally:
            running[0] = False
        _reply_exit(sock, code, outputs)


def _reply_exit(sock, code: int, outputs) -> None:
    """The ``exit`` reply; with the arrays of a successful in-memory call attached."""
    if code != 0 or outputs is None or outputs.made is None:
        wire.send(sock, {"t": "exit", "code": code})
        return
    fd, layout = run.pack_arrays(outputs.made.result())
    try:
        wire.send(sock, {"t": "exit", "code": code, "arrays": layout}, [fd])
    finally:
        os.close(fd)


def _die_with_peer(sock) -> None:
    """End this process as soon as the session's parent closes its end (Linux POLLRDHUP),
    even in the middle of a call; elsewhere the loop ends at its next read."""
    import select
    import threading
    if not hasattr(select, "POLLRDHUP"):
        return
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLRDHUP)

    def watch():
        while True:
            if poller.poll():
                os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, daemon=True, name="peer-watch").start()
