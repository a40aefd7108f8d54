"""``neunet-sim``'s front: hand the call to this user's warm simulator server, else run it here.

Standard library only, and no numpy or numba: a call through the server costs a Python
start-up and a few milliseconds instead of the engine's imports. The call sends its argv,
working folder, environment, umask and its stdin/stdout/stderr descriptors; the server's
forked child writes to those very files and the exit code comes back. SIGINT, SIGTERM,
SIGHUP, SIGQUIT, SIGUSR1/2 are forwarded to the child, ctrl-z stops and resumes it with this
process, and a child killed by a signal makes this process die of the same signal. With
``NEUNET_SIM_SERVER=1`` a missing server is started in the background (this call runs here);
``NEUNET_SIM_SERVER=0`` never uses one. Any problem reaching the server means: run here.
"""
from __future__ import annotations

import _signal as signal  # the C module: `signal` would import enum for nothing here
import os
import sys

from neunet.sim.warm import wire

# Seconds a connected server may take to accept a call before it counts as absent.
CONNECT_TIMEOUT_S = 2.0


def main(argv=None, local=None) -> int:
    """Run the command line: through the warm server when one serves this user, else here.

    Parameters
    ----------
    argv : list of str, optional
        Arguments (default ``sys.argv[1:]``).
    local : callable, optional
        The in-process command line (default `neunet.sim.__main__.main`).
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    mode = os.environ.get(wire.SERVER_ENV, "").strip().lower()
    if mode not in wire.SERVER_OFF and argv and not _asks_help(argv):
        code = through_server(argv, start=mode in wire.SERVER_ON)
        if code is not None:
            return code
    if local is None:
        from neunet.sim.__main__ import main as local
    return local(argv)


def _asks_help(argv) -> bool:
    """--help and -h print argparse text: nothing to gain from the server."""
    return any(a in ("-h", "--help") for a in argv)


def through_server(argv, start: bool = False):
    """Run `argv` through the server; its exit code, or None when no server took the call.

    Parameters
    ----------
    argv : list of str
    start : bool
        Start the server in the background when none is running (the call is still
        not served: None).
    """
    ident = wire.identity()
    folder = wire.server_dir()
    if wire.private_dir_problem(folder) is None:
        sock = _connect(wire.server_paths(ident, folder)["socket"])
        if sock is not None:
            try:
                return _call(sock, ident, argv)
            finally:
                sock.close()
    if start and not _starting(wire.server_paths(ident, folder)["lock"]):
        try:
            spawn_server()
        except OSError:      # e.g. a folder open to others: `neunet-sim-server start` says
            pass
    return None


def _starting(lock_path: str) -> bool:
    """Whether a server holds its lock already (warming up): then none is started again
    (many calls at once would each start one, only for all but one to leave)."""
    import fcntl
    try:
        fd = os.open(lock_path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


def _connect(path: str):
    sock = wire.unix_socket()
    sock.settimeout(CONNECT_TIMEOUT_S)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        return None
    sock.settimeout(None)
    return sock


def _stdio_fds():
    """Descriptors 0-2 to lend the server; None when one is closed (run here then)."""
    try:
        for fd in range(wire.STDIO_FDS):
            os.fstat(fd)
    except OSError:
        return None
    return list(range(wire.STDIO_FDS))


def _call(sock, ident: str, argv):
    """Send the run request, forward signals while it runs; the exit code or None."""
    fds = _stdio_fds()
    if fds is None:
        return None
    msg = {"t": "run", "identity": ident, "argv": argv, "cwd": os.getcwd(),
           "env": dict(os.environ), "umask": _umask()}
    forward = _Forwarder(sock)
    try:
        try:
            wire.send(sock, msg, fds)
            forward.sent()
            reply, _ = wire.recv(sock)
        except OSError:            # the server went away before taking the call
            return None
        if reply is None or reply.get("t") != "exit":
            return None            # refused (another neunet) or not a server we know
        code = reply.get("code")
    finally:
        forward.restore()
    if not isinstance(code, int):
        return 1
    return code if code >= 0 else _die_of(-code)


def _umask() -> int:
    mask = os.umask(0o22)
    os.umask(mask)
    return mask


def _die_of(signum: int) -> int:
    """End this process with the signal that ended the simulation (as if it ran here)."""
    sys.stdout.flush()
    try:
        signal.signal(signum, signal.SIG_DFL)
    except (OSError, ValueError):       # SIGKILL, SIGSTOP: always the default
        pass
    try:
        os.kill(os.getpid(), signum)
    except (OSError, ValueError):
        pass
    return 128 + signum


class _Forwarder:
    """Signal handlers that pass signals on to the server's child while a call runs."""

    def __init__(self, sock):
        self.sock, self.old = sock, {}
        self.pending = []        # signals that came before the request was sent
        for name in wire.FORWARDED_SIGNALS:
            if name not in ("SIGSTOP", "SIGCONT"):
                self._install(getattr(signal, name), self._forward)
        self._install(signal.SIGTSTP, self._stop)

    def _install(self, signum, handler) -> None:
        try:
            self.old[signum] = signal.signal(signum, handler)
        except (OSError, ValueError):   # not the main thread, or not settable here
            pass

    def sent(self) -> None:
        """The request is out: forward what came before it."""
        pending, self.pending = self.pending, None
        for signum in pending:
            self._send(signum)

    def _send(self, signum: int) -> None:
        if self.pending is not None:
            self.pending.append(signum)
            return
        try:
            wire.send(self.sock, {"t": "signal", "signal": int(signum)})
        except OSError:
            pass

    def _forward(self, signum, _frame) -> None:
        self._send(signum)

    def _stop(self, signum, _frame) -> None:
        """ctrl-z: stop the child, then stop here; on resumption, resume it."""
        self._send(signal.SIGSTOP)
        signal.signal(signal.SIGTSTP, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTSTP)
        signal.signal(signal.SIGTSTP, self._stop)
        self._send(signal.SIGCONT)

    def restore(self) -> None:
        for signum, handler in self.old.items():
            signal.signal(signum, handler)


def spawn_server(idle_s: float | None = None):
    """Start this user's server in the background (detached; it warms up, then serves).

    Returns the `subprocess.Popen` of the server process (it outlives this one)."""
    import subprocess
    folder = wire.server_dir()
    wire.make_private_dir(folder)
    log = open(wire.server_paths(wire.identity(), folder)["log"], "ab")
    command = [sys.executable, "-m", "neunet.sim.warm.control", "run"]
    if idle_s is not None:
        command += ["--idle-timeout", str(idle_s)]
    with log:
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                start_new_session=True, cwd="/", env=_server_env())


def _server_env() -> dict:
    """The server's environment: this one, with neunet's folder first on PYTHONPATH so the
    server runs the same package even when it is not installed."""
    import neunet
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(neunet.__file__)))
    env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])
    return env
