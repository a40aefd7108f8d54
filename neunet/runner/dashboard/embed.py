"""Owns starting the dashboard where a sweep runs: inside a coordinator (on its event loop), in a
thread of its own (the Dask route), or from ``python -m neunet.dashboard RUN_DIR``; and the one
line that prints its URL.
"""
from __future__ import annotations

import asyncio
import logging
import sys
import threading

log = logging.getLogger("neunet.dashboard")

# Seconds to wait for a dashboard thread to start listening.
THREAD_START_S = 30.0


class DashboardOptionError(ValueError):
    """A bad ``--dashboard [HOST:]PORT`` value."""


def parse_where(text: str | None, default_host: str = "127.0.0.1") -> tuple[str, int | None]:
    """``[HOST:]PORT`` (or ``HOST:`` / None) -> (host, port or None for "near 8722").

    Raises
    ------
    DashboardOptionError
        When the text is not of that form.
    """
    if not text:
        return default_host, None
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = default_host, text
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if port == "":
        return host or default_host, None
    if not port.isdigit() or int(port) > 65535:
        raise DashboardOptionError(f"--dashboard {text!r}: expected [HOST:]PORT, e.g. 8722 or "
                                   "0.0.0.0:8722")
    return host or default_host, int(port)


def check_where(where: str | None, token: bytes | None) -> tuple[str, int | None]:
    """`parse_where`, and refuse an address beyond loopback without a token for the login.

    Raises
    ------
    DashboardOptionError
    """
    from neunet.runner.wire.auth import TOKEN_ENV, is_loopback
    host, port = parse_where(where)
    if token is None and not is_loopback(host):
        raise DashboardOptionError(f"--dashboard {where}: a dashboard beyond loopback asks for "
                                   f"the sweep's token: pass --token-file or set {TOKEN_ENV}")
    return host, port


def announce(url: str, stream=None, what: str = "dashboard") -> None:
    """Print the one line naming the dashboard's URL (on stderr, where progress goes)."""
    stream = stream or sys.stderr
    stream.write(f"{what}: {url}\n")
    stream.flush()


async def start_dashboard(run_dir, where: str | None = None, token: bytes | None = None,
                          live=None, stream=None, login: bool | None = None):
    """Start a dashboard on the running event loop and print its URL; None when it cannot
    listen (a warning says why; the sweep goes on without it).

    Parameters
    ----------
    run_dir : str or Path
        The run directory.
    where : str, optional
        ``[HOST:]PORT`` (default: 127.0.0.1, a free port from 8722 up).
    token : bytes, optional
        The sweep's token, needed when HOST is not loopback (the login).
    live : object, optional
        A `neunet.runner.dashboard.live.CoordinatorSource`.
    stream : file, optional
        Where the URL line goes (default stderr).
    login : bool, optional
        Ask for the token (default: when HOST is not loopback).
    """
    from neunet.runner.dashboard.server import Dashboard
    host, port = parse_where(where)
    try:
        dash = Dashboard(run_dir, host=host, port=port, token=token, live=live, login=login)
        url = await dash.start()
    except (OSError, ValueError) as exc:
        log.warning("no dashboard: %s", exc)
        return None
    announce(url, stream)
    return dash


async def start_for_coordinator(coord, store, where: str | None, token_file: str | None = None,
                                stream=None):
    """Start the dashboard of a running coordinator (on its event loop, with its live figures),
    print its URL and record it in the run directory (meta ``dashboard``: url and pid, which
    `neunet.sweep.progress.RunWatcher` shows); None when it cannot start.

    Parameters
    ----------
    coord : neunet.runner.coordinator.server.Coordinator
    store : neunet.store.RunStore
        The coordinator's run directory writer.
    where : str, optional
        ``[HOST:]PORT`` (see `parse_where`).
    token_file : str, optional
        The user's token file (else $NEUNET_TOKEN): the login beyond loopback.
    """
    import os

    from neunet.runner.dashboard.live import CoordinatorSource
    from neunet.runner.wire import auth
    try:
        token = auth.load_token(token_file)
    except auth.AuthError as exc:
        log.warning("no dashboard: %s", exc)
        return None
    dash = await start_dashboard(store.run_dir, where, token, CoordinatorSource(coord), stream)
    if dash is not None:
        store.set_meta("dashboard", {"url": dash.url, "pid": os.getpid()})
    return dash


def serve_in_thread(run_dir, where: str | None = None, token: bytes | None = None,
                    stream=None, login: bool | None = None):
    """Serve a run directory's dashboard from a daemon thread with its own event loop (for a
    sweep whose main thread is busy, such as the Dask route); print the URL.

    Returns
    -------
    (url, stop) : tuple
        The URL (None when it could not start) and a function stopping the server.
    """
    ready = threading.Event()
    box: dict = {}

    def main():
        loop = asyncio.new_event_loop()
        box["loop"] = loop
        try:
            box["dash"] = loop.run_until_complete(start_dashboard(
                run_dir, where, token, stream=stream, login=login))
        finally:
            ready.set()
        if box["dash"] is not None:
            loop.run_forever()
            loop.run_until_complete(box["dash"].close())
        loop.close()

    thread = threading.Thread(target=main, name="neunet-dashboard", daemon=True)
    thread.start()
    ready.wait(THREAD_START_S)
    dash = box.get("dash")

    def stop():
        loop = box.get("loop")
        if dash is not None and loop is not None and loop.is_running():
            loop.call_soon_threadsafe(loop.stop)
            thread.join(THREAD_START_S)

    return (dash.url if dash is not None else None), stop
