"""The warm simulator program: loads the engine once, then runs command-line calls on request.

Two ways to serve (started by ``python -m neunet.sim.warm.control``):

- ``run``: this user's server for ``neunet-sim`` (`neunet.sim.warm.client`). It warms every
  model and method, then listens on a Unix socket in a folder only its owner can enter
  (socket mode 600, and the peer's uid is checked), forks one child per call (so calls run
  side by side, each with its caller's folder, environment and stdio), forwards the caller's
  signals to that child, answers with the child's exit status, and stops itself after an
  idle period. A call from another neunet installation or version is refused (the client
  then runs it itself). The ``start``/``stop``/``status`` commands manage it
  (`neunet.sim.warm.control`).
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
# Seconds between checks for finished children where pidfds are not available.
REAP_POLL_S = 0.02
# Per neuron count: a lone neuron (single-neuron kernels) and a small network.
_WARM_SIZES = (("1", "0"), ("2", "1"))


def _warm_argv(model: str, method: str, n_e: str, n_i: str) -> list:
    """A tiny run of `model` with `method` that goes through every part of the engine."""
    argv = ["--neuron-model", model, "--simulation-method", method, "--net", "-",
            "--nE", n_e, "--nI", n_i, "--t", "0.5", "--stv", "0.0625", "--pr", "2",
            "--ps", "0.01", "--pri", "1", "--psi", "0.01", "--scee", "0.01", "--scie", "0.01",
            "--scei", "0.01", "--scii", "0.01", "--seed", "1", "--output-first-data-point"]
    if method == "big-delay":
        argv += ["--synaptic-delay", "0.0625"]
    if model.endswith("-extI"):
        argv += ["--extI", "1"]
    if model.endswith("-sine"):
        argv += ["--current-sine-amp", "1", "--current-sine-freq", "0.1"]
    return argv


def warm_up(every_model: bool) -> float:
    """Load the engine and its compiled kernels; return the seconds it took.

    Parameters
    ----------
    every_model : bool
        Run every model with every method it allows (the per-user server: its forked
        children would otherwise load kernels again at every call); else one HH run (a
        session process keeps what later calls load).
    """
    from neunet.sim import api, models
    from neunet.sim.startup import hide_optional_modules, single_thread_libraries
    single_thread_libraries()
    hide_optional_modules()                       # for good: this process only simulates
    t0 = time.perf_counter()
    plan = [(m, info.methods) for m, info in models.MODELS.items()]
    if not every_model:
        plan = [("HH-GH", ("simple",))]
    for model, methods in plan:
        for method in methods:
            for n_e, n_i in _WARM_SIZES if every_model else _WARM_SIZES[:1]:
                api.simulate(_warm_argv(model, method, n_e, n_i), api.OUTPUT_KEYS)
    return time.perf_counter() - t0


class _Call:
    """One forked call: its caller's connection and the child running it."""

    def __init__(self, conn, pid: int):
        self.conn, self.pid = conn, pid
        self.pidfd = _pidfd(pid)


def _pidfd(pid: int):
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):    # before Linux 5.3 / Python 3.9: poll instead
        return None


class ForkServer:
    """The per-user server's loop (see the module docstring).

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
        self.calls: dict = {}                 # connection -> _Call
        self.served, self.started_s, self.stopping = 0, time.time(), False
        self.last_s = time.monotonic()
        self.sel.register(listener, selectors.EVENT_READ, "accept")
        wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)
        self.sel.register(wake_r, selectors.EVENT_READ, "wake")
        self.wake_r = wake_r

    def serve(self) -> None:
        """Serve until stopped (SIGTERM, SIGINT, a ``stop`` request) or idle."""
        old = {s: signal.signal(s, self._on_stop) for s in (signal.SIGTERM, signal.SIGINT)}
        signal.set_wakeup_fd(self.wake_w)
        try:
            while self.calls or not (self.stopping or self._idle_over()):
                self._step()
        finally:
            signal.set_wakeup_fd(-1)
            for s, handler in old.items():
                signal.signal(s, handler)
            self._close_listener()

    def _idle_over(self) -> bool:
        return time.monotonic() - self.last_s >= self.idle_s

    def _on_stop(self, _signum, _frame) -> None:
        self.stopping = True

    def _step(self) -> None:
        if self.calls:
            polling = any(c.pidfd is None for c in self.calls.values())
            timeout = REAP_POLL_S if polling else None
        else:
            timeout = max(0.0, self.last_s + self.idle_s - time.monotonic())
        for key, _ in self.sel.select(timeout):
            kind = key.data
            if kind == "accept":
                self._accept()
            elif kind == "wake":
                os.read(self.wake_r, 512)
            elif kind == "conn":
                self._from_caller(key.fileobj)
            else:
                self._reap(kind)
        for call in [c for c in self.calls.values() if c.pidfd is None]:
            self._reap(call, block=False)
        if self.calls:
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
                wire.send(conn, {"t": "stopping", "running": len(self.calls)})
            return False
        if msg.get("identity") != self.ident:
            wire.close_fds(fds)
            wire.send(conn, {"t": "refused", "reason": f"this server runs {self.ident}"})
            return False
        try:
            run.check_request(msg, fds)
            if msg.get("arrays"):
                raise run.BadRequest("arrays are for session calls only")
        except run.BadRequest as exc:
            wire.close_fds(fds)
            wire.send(conn, {"t": "refused", "reason": str(exc)})
            return False
        self._fork(conn, msg, fds)
        return True

    def _fork(self, conn, msg: dict, fds: list) -> None:
        pid = os.fork()
        if pid == 0:                                   # the child: run the call, exit
            code = 1
            try:
                self._become_child()
                code = run.run_request(msg, fds, restore=False)
            finally:
                os._exit(code)
        wire.close_fds(fds)
        conn.settimeout(None)
        call = _Call(conn, pid)
        self.calls[conn] = call
        self.served += 1
        self.sel.register(conn, selectors.EVENT_READ, "conn")
        if call.pidfd is not None:
            self.sel.register(call.pidfd, selectors.EVENT_READ, call)

    def _become_child(self) -> None:
        """In a forked child: drop the server's sockets and handlers."""
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        self.sel.close()
        for sock in [self.listener, *self.calls]:
            sock.close()
        wire.close_fds([self.wake_r, self.wake_w,
                        *(c.pidfd for c in self.calls.values() if c.pidfd is not None)])

    def _from_caller(self, conn) -> None:
        """A forwarded signal, or the caller gone (its call is killed)."""
        call = self.calls.get(conn)
        try:
            msg, fds = wire.recv(conn)
        except OSError:
            msg, fds = None, []
        wire.close_fds(fds)
        if call is None:
            return
        names = {getattr(signal, n) for n in wire.FORWARDED_SIGNALS}
        if msg is None:                                # the caller died: so does its call
            self.sel.unregister(conn)
            _kill(call.pid, signal.SIGKILL)
        elif msg.get("t") == "signal" and msg.get("signal") in names:
            _kill(call.pid, msg["signal"])

    def _reap(self, call: _Call, block: bool = True) -> None:
        pid, status = os.waitpid(call.pid, 0 if block else os.WNOHANG)
        if pid == 0:
            return
        self.calls.pop(call.conn, None)
        if call.pidfd is not None:
            self.sel.unregister(call.pidfd)
            os.close(call.pidfd)
        try:
            self.sel.unregister(call.conn)
        except (KeyError, ValueError):
            pass
        try:
            wire.send(call.conn, {"t": "exit", "code": os.waitstatus_to_exitcode(status)})
        except OSError:
            pass
        call.conn.close()

    def status(self) -> dict:
        """The ``status`` reply: who this is and what it has done."""
        return {"t": "status", "identity": self.ident, "pid": os.getpid(),
                "started": self.started_s, "served": self.served, "running": len(self.calls),
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
    import struct
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
