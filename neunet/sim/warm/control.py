"""``neunet-sim-server``: start, stop and query this user's warm simulator server.

    neunet-sim-server start [--idle-timeout S]   # warm up in the background, print when ready
    neunet-sim-server status                     # exit 0 when it serves this neunet, else 1
    neunet-sim-server stop [--all]               # after the running calls
    neunet-sim-server run [--idle-timeout S]     # the server itself, in the foreground

Standard library only until ``run`` warms the engine. One server per user and neunet
installation: a second ``run`` finds the lock taken and leaves quietly. ``session --fd N`` is
the private process of ``gen_neu`` (`neunet.sim.warm.session`), not for direct use.
"""
from __future__ import annotations

import argparse
import os
import socket
import sys
import time

from neunet.sim.warm import wire

# Program name in messages.
PROG = "neunet-sim-server"
# Seconds `start` waits for the server to be ready (a cold numba cache compiles for minutes).
START_WAIT_S = 600.0
# Seconds `stop` waits for the server to finish its running calls and go.
STOP_WAIT_S = 60.0
# Seconds between two looks while waiting.
POLL_S = 0.05
# Attempts at the server's lock before concluding that another server holds it.
LOCK_TRIES = 5


def _parser():
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    for name, text in (("start", "start the server in the background"),
                       ("run", "run the server in the foreground")):
        c = sub.add_parser(name, help=text)
        c.add_argument("--idle-timeout", type=float, metavar="S", default=None,
                       help=f"stop after S seconds without a call (default "
                            f"${wire.IDLE_ENV} or {wire.IDLE_DEFAULT_S:g})")
    sub.add_parser("status", help="show the server of this neunet; exit 1 if none")
    c = sub.add_parser("stop", help="stop the server after its running calls")
    c.add_argument("--all", action="store_true", help="every server of this user "
                   "(other neunet versions and installations too)")
    c = sub.add_parser("session", help=argparse.SUPPRESS)
    c.add_argument("--fd", type=int, required=True)
    return p


def main(argv=None) -> int:
    """Run a command; returns the exit status (0 done, 1 failed or not running, 2 usage)."""
    a = _parser().parse_args(argv)
    if a.command == "session":
        return _session(a.fd)
    try:
        return {"start": _start, "run": _run, "status": _status, "stop": _stop}[a.command](a)
    except PermissionError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def ask(path: str, msg: dict, timeout_s: float = 2.0):
    """Send one request to the server at `path`; its reply, or None if none answers."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout_s)
    try:
        with sock:
            sock.connect(path)
            wire.send(sock, msg)
            return wire.recv(sock)[0]
    except OSError:
        return None


def _paths() -> dict:
    return wire.server_paths(wire.identity())


def _describe(reply: dict) -> str:
    up_s = time.time() - reply["started"]
    return (f"pid {reply['pid']}, {reply['socket']}, up {up_s:.0f} s, {reply['served']} "
            f"calls served, {reply['running']} running, stops after "
            f"{reply['idle_timeout_s']:g} s idle\n  {reply['identity']}")


def _status(_a) -> int:
    reply = ask(_paths()["socket"], {"t": "status"})
    if reply is None:
        print(f"{PROG}: not running (for {wire.identity()})")
        return 1
    print(f"{PROG}: running: {_describe(reply)}")
    return 0


def _start(a) -> int:
    from neunet.sim.warm.client import spawn_server
    paths = _paths()
    reply = ask(paths["socket"], {"t": "status"})
    if reply is None:
        proc = spawn_server(a.idle_timeout)
        deadline = time.monotonic() + START_WAIT_S
        while reply is None and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(POLL_S)
            reply = ask(paths["socket"], {"t": "status"})
        if reply is None:
            reply = ask(paths["socket"], {"t": "status"})   # lost a race to another start
        if reply is None:
            print(f"{PROG}: error: the server did not start; see {paths['log']}",
                  file=sys.stderr)
            return 1
    print(f"{PROG}: running: {_describe(reply)}")
    return 0


def _stop(a) -> int:
    folder = wire.server_dir()
    if a.all:
        try:
            names = sorted(n for n in os.listdir(folder) if n.endswith(".sock"))
        except OSError:
            names = []
        sockets = [os.path.join(folder, n) for n in names]
    else:
        sockets = [_paths()["socket"]]
    stopped = 0
    for path in sockets:
        if ask(path, {"t": "stop"}) is not None:
            stopped += 1
            deadline = time.monotonic() + STOP_WAIT_S
            while os.path.exists(path) and time.monotonic() < deadline:
                time.sleep(POLL_S)
    print(f"{PROG}: stopped {stopped} server{'s' if stopped != 1 else ''}")
    return 0


def _run(a) -> int:
    """The server itself: lock, warm up, listen, serve, clean up."""
    idle_s = wire.idle_timeout_s() if a.idle_timeout is None else max(0.0, a.idle_timeout)
    ident = wire.identity()
    wire.make_private_dir(wire.server_dir())
    paths = wire.server_paths(ident)
    lock = open(paths["lock"], "a")
    if not _take(lock):
        print(f"{PROG}: already running for this neunet ({paths['socket']})")
        return 0
    from neunet.sim.warm import run, server
    warm_s = run.warm_up(every_model=True)
    listener = _listen(paths["socket"])
    import gc
    gc.freeze()           # forked workers share the warm heap instead of copying it
    print(f"{PROG}: serving on {paths['socket']} (pid {os.getpid()}, warm-up {warm_s:.2f} s, "
          f"idle timeout {idle_s:g} s)", flush=True)
    server.Server(listener, ident, idle_s).serve()
    print(f"{PROG}: stopped (pid {os.getpid()})", flush=True)
    lock.close()
    return 0


def _take(lock) -> bool:
    """Take the server's lock; False when another server holds it. A client that looks
    whether a server is starting holds it shared for an instant: tried a few times."""
    import fcntl
    for _ in range(LOCK_TRIES):
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError:
            time.sleep(POLL_S)
    return False


def _listen(path: str):
    """A listening Unix socket at `path` that only this user can connect to."""
    try:
        os.unlink(path)                # a dead server's (we hold the lock)
    except FileNotFoundError:
        pass
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        listener.bind(path)
    finally:
        os.umask(old)
    listener.listen(64)
    return listener


def _session(fd: int) -> int:
    """gen_neu's session process: a crash writes its cause to the running call's stderr
    (faulthandler on descriptor 2, which is the call's during a call)."""
    import faulthandler

    from neunet.sim.warm import run, server
    faulthandler.enable()
    sock = socket.socket(fileno=fd)
    run.warm_up(every_model=False)
    return server.serve_session(sock)


if __name__ == "__main__":
    sys.exit(main())
