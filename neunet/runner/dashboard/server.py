"""Owns the dashboard's web server: its routes, the server-push stream and its lifecycle.

`Dashboard` runs on the event loop it is started from (the coordinator's own, or a thread's:
`serve_in_thread`), on `neunet.runner.dashboard.httpd` (plain asyncio streams: no import
cost, strict limits). All reading of the run directory happens in one thread of its own, and
only while a browser watches: with nobody connected it costs nothing but a listening socket.
Every `PERIOD_S` (longer when a refresh is slow) the state (progress, workers, failures, task
stream) is encoded once and pushed to each browser over Server-Sent Events; the sweep plot
and a task's detail are fetched by the page when it needs them. The page, its scripts and
the chart library are files of this package (no network needed).
"""
from __future__ import annotations

import asyncio
import json
import re
import secrets
import socket
import time
from concurrent.futures import ThreadPoolExecutor

from neunet.runner.dashboard import access, assets
from neunet.runner.dashboard.httpd import EventStream, HttpError, HttpServer, Response

# Seconds between pushes while somebody watches (at least; see COST_FACTOR).
PERIOD_S = 1.0
# A refresh that took t seconds is followed by at least COST_FACTOR * t seconds of rest.
COST_FACTOR = 20.0
# Seconds a state may be old and still answer /api/state (the event stream follows at once).
STALE_S = 30.0
# Sweep-plot answers kept (by run revision and axes).
SWEEP_CACHE = 8
# Seconds after the last browser left during which the model is still refreshed.
LINGER_S = 30.0
# Seconds between keep-alive comments on an idle event stream.
KEEPALIVE_S = 15.0
# Most event streams open at once, and task-detail reads at once.
MAX_STREAMS, MAX_DETAIL_READS = 16, 2
# Tells an event stream's browser to reconnect after 300 ms (a new sweep on the same port).
RETRY_LINE = b"retry: 300\n\n"
# The last event of a stream when the coordinator stops: pages stop fetching until it is back
BYE_EVENT = b"event: bye\ndata: {}\n\n"
# Default dashboard port and how many ports above it are tried when it is taken.
DEFAULT_PORT, PORT_TRIES = 8722, 20
# A task id, and a parameter or statistic name, as a query may give them.
_TID = re.compile(r"[0-9A-Za-z_.-]{1,128}")
_NAME = re.compile(r"[^\x00-\x1f]{1,200}")
# Content type of JSON answers.
JSON_TYPE = "application/json"


class Dashboard:
    """The live web dashboard of one run directory.

    Parameters
    ----------
    run_dir : str or Path
        The run directory to show.
    host : str
        Address to listen on (default loopback).
    port : int or None
        Port; None: the first free one from `DEFAULT_PORT` up; 0: any free port.
    token : bytes, optional
        The sweep's token; required (for the login) when `login` is true.
    login : bool, optional
        Ask for the token before showing anything (default: when `host` is not loopback).
    live : object, optional
        A source of live figures with a ``snapshot()`` method called on the event loop
        (`neunet.runner.dashboard.live.CoordinatorSource`).
    """

    def __init__(self, run_dir, host="127.0.0.1", port=None, token=None, login=None, live=None):
        from neunet.runner.dashboard.model import RunModel
        from neunet.runner.wire.auth import is_loopback
        self.model = RunModel(run_dir)
        self.host, self.port, self.live = host, port, live
        self.login = (not is_loopback(host)) if login is None else bool(login)
        if self.login and not token:
            raise ValueError(f"a dashboard on {host} needs the sweep's token (--token-file "
                             "or $NEUNET_TOKEN) for its login")
        self.token = token
        self.url = None
        self.session = secrets.token_hex(8)  # a page that reconnects sees a new server
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="neunet-dashboard")
        self._streams: set[asyncio.Queue] = set()
        self._wake = asyncio.Event()
        self._last: bytes | None = None  # the latest state pushed (JSON)
        self._last_s = 0.0                # monotonic time it was made
        self._left_s = 0.0  # monotonic time the last browser left
        self._detail_reads = asyncio.Semaphore(MAX_DETAIL_READS)
        self._sweeps: dict = {}  # (rev, x, y, colour) -> JSON of the sweep plot
        self.cpu_s = 0.0  # CPU seconds of the reading thread (refreshes and sweep plots)
        self._http = self._task = None
        self._closing = False
        self._routes = {"/": self._index, "/login": self._login, "/events": self._events,
                        "/api/state": self._state, "/api/sweep": self._sweep,
                        "/api/task": self._task_detail}

    # ------------------------------------------------------------ lifecycle
    async def start(self) -> str:
        """Listen and serve; return the URL. Costs the loop nothing until a browser comes."""
        sock = self._bind()
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        self._allowed = access.allowed_hosts(self.host, self.port)
        self._open_host = self.host in ("0.0.0.0", "::", "")
        shown = "127.0.0.1" if self._open_host else self.host
        shown = f"[{shown}]" if ":" in shown else shown
        self.url = f"http://{shown}:{self.port}/"
        self._http = HttpServer(self._route, assets.SECURITY_HEADERS, access.MAX_CONNECTIONS)
        await self._http.start(sock)
        self._task = asyncio.ensure_future(self._pusher())
        return self.url

    def _bind(self) -> socket.socket:
        ports = ([self.port] if self.port is not None
                 else range(DEFAULT_PORT, DEFAULT_PORT + PORT_TRIES))
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        for port in ports:
            try:
                return socket.create_server((self.host, port), family=family,
                                            backlog=access.BACKLOG)
            except OSError as exc:
                error = exc
        tried = (str(self.port) if self.port is not None
                 else f"{DEFAULT_PORT}..{DEFAULT_PORT + PORT_TRIES - 1}")
        raise OSError(f"cannot listen on {self.host}:{tried}: {error.strerror or error}")

    async def close(self) -> None:
        """Stop serving (open event streams end)."""
        self._closing = True
        if self._task is not None:
            self._task.cancel()
        for queue in list(self._streams):
            _put_latest(queue, None)  # each stream handler returns on None
        if self._http is not None:
            await self._http.close()
        self._pool.shutdown(wait=False)

    # ------------------------------------------------------------ pushing
    async def _pusher(self) -> None:
        while True:
            if not self._streams and time.monotonic() - self._left_s > LINGER_S:
                self._wake.clear()
                await self._wake.wait()
            t0 = time.monotonic()
            before = self._last
            try:
                payload = await self.payload()
            except Exception as exc:  # a store being replaced, a locked index: try again
                payload = json.dumps({"error": str(exc)}).encode()
            if payload != before:
                for queue in list(self._streams):
                    _put_latest(queue, payload)
            cost = time.monotonic() - t0
            await asyncio.sleep(max(PERIOD_S - cost, COST_FACTOR * cost))

    async def payload(self) -> bytes:
        """The state pushed to browsers, JSON-encoded (refreshes the model first)."""
        live = self.live.snapshot() if self.live is not None else None
        self._last = await asyncio.get_running_loop().run_in_executor(
            self._pool, self._encode, live)
        self._last_s = time.monotonic()
        return self._last

    def _encode(self, live) -> bytes:
        from neunet.runner.dashboard.state import run_state
        t0 = time.thread_time()
        if not self.model.refresh() and live is None and self._last is not None:
            self.cpu_s += time.thread_time() - t0
            return self._last  # nothing changed: the same state (nothing pushed)
        state = run_state(self.model, live)
        state["run"]["session"] = self.session
        state["run"]["dashboard_cpu_s"] = round(self.cpu_s, 3)  # this thread's, so far
        body = json.dumps(state, separators=(",", ":"), allow_nan=False).encode()
        self.cpu_s += time.thread_time() - t0
        return body

    async def warm(self) -> None:
        """Read the run and make the first page's answers now (before the URL is shown)."""
        await self.payload()
        await self.payload()  # checks every finished task for a rare parameter value
        await asyncio.get_running_loop().run_in_executor(self._pool, self.prepare_sweep)

    def prepare_sweep(self) -> None:
        """Compute the sweep plot the page asks for first (its default axes), in this thread."""
        from neunet.runner.dashboard.state import default_axes
        axes = default_axes(self.model)
        if axes is not None:
            self._sweeps[(self.model.rev, *axes)] = self._sweep_json(*axes)

    # ------------------------------------------------------------ requests
    async def _route(self, request):
        """Check the request (`access.refusal`), then answer it."""
        refused = access.refusal(request, self._allowed, self._open_host, self.login,
                                 self.token)
        if refused is not None:
            return refused
        if request.path.startswith("/static/"):
            return self._static(request)
        handler = self._routes.get(request.path)
        if handler is None:
            raise HttpError(404, "not found")
        return await handler(request)

    async def _index(self, request):
        return Response(200, assets.index_html(), "text/html; charset=utf-8",
                        {"Cache-Control": assets.CACHE_SHORT})

    def _static(self, request):
        found = assets.static(request.path[len("/static/"):])
        if found is None:
            raise HttpError(404, "not found")
        body, kind, cache, etag = found
        headers = {"Cache-Control": cache, "ETag": etag}
        if request.headers.get("if-none-match") == etag:
            return Response(304, b"", kind, headers)
        return Response(200, body, kind, headers)

    async def _login(self, request):
        if request.method != "POST":
            return Response(200, access.login_page(), "text/html; charset=utf-8")
        form = await request.form(access.MAX_BODY)
        if not self.login:
            return access.redirect("/")
        if access.token_matches(form.get("token", ""), self.token):
            return access.redirect("/", {"Set-Cookie": access.cookie_header(self.token)})
        await asyncio.sleep(access.LOGIN_DELAY_S)
        return Response(403, access.login_page("wrong token"), "text/html; charset=utf-8")

    async def _state(self, request):
        if self._last is None or time.monotonic() - self._last_s > STALE_S:
            await self.payload()  # else the event stream brings a fresh state at once
        return Response(200, self._last, JSON_TYPE, {"Cache-Control": "no-store"})

    async def _events(self, request):
        if len(self._streams) >= MAX_STREAMS:
            raise HttpError(503, "too many open dashboards")
        return EventStream(self._stream)

    async def _stream(self, write) -> None:
        await write(RETRY_LINE)  # a page left open reconnects quickly
        queue: asyncio.Queue = asyncio.Queue(maxsize=1)
        if self._last is not None:
            queue.put_nowait(self._last)
        self._streams.add(queue)
        self._wake.set()
        getter = None
        try:
            while not self._closing:
                getter = getter or asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait({getter}, timeout=KEEPALIVE_S)
                if not done:
                    await write(b": keep-alive\n\n")
                    continue
                payload, getter = getter.result(), None
                if payload is None:  # closing: the page stops asking until a server is back
                    await write(BYE_EVENT)
                    return
                await write(b"data: " + payload + b"\n\n")
        finally:
            if getter is not None:
                getter.cancel()
            self._streams.discard(queue)
            self._left_s = time.monotonic()

    async def _sweep(self, request):
        q = request.query
        x, y, colour = q.get("x", ""), q.get("y", ""), q.get("c", "")
        if not all(_NAME.fullmatch(v) for v in (x, y)) or (colour and not _NAME.fullmatch(colour)):
            raise HttpError(400, "bad x, y or c")
        key = (self.model.rev, x, y, colour or None)
        if key not in self._sweeps:
            try:
                body = await asyncio.get_running_loop().run_in_executor(
                    self._pool, self._sweep_json, x, y, colour or None)
            except KeyError as exc:
                raise HttpError(400, str(exc.args[0])) from None
            self._sweeps[key] = body
            while len(self._sweeps) > SWEEP_CACHE:
                self._sweeps.pop(next(iter(self._sweeps)))
        return Response(200, self._sweeps[key], JSON_TYPE, {"Cache-Control": "no-store"})

    def _sweep_json(self, x, y, colour) -> bytes:
        from neunet.runner.dashboard import views
        t0 = time.thread_time()
        body = _dumps(views.sweep_points(self.model, x, y, colour)).encode()
        self.cpu_s += time.thread_time() - t0
        return body

    async def _task_detail(self, request):
        from neunet.runner.dashboard import views
        from neunet.store import StoreError, open_run
        tid = request.query.get("tid", "")
        if not _TID.fullmatch(tid):
            raise HttpError(400, "bad task id")
        async with self._detail_reads:
            try:
                body = await asyncio.get_running_loop().run_in_executor(
                    None, lambda: views.task_detail(open_run(self.model.run_dir), tid))
            except StoreError as exc:
                raise HttpError(404, str(exc)) from None
        return Response(200, _dumps(body), JSON_TYPE, {"Cache-Control": "no-store"})


def _dumps(value) -> str:
    return json.dumps(value, separators=(",", ":"), default=_default, allow_nan=False)


def _default(value):
    import numpy as np

    from neunet.runner.dashboard.model import finite
    if isinstance(value, np.generic):
        return finite(value) if isinstance(value, np.floating) else value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def _put_latest(queue: asyncio.Queue, payload: bytes) -> None:
    """Queue `payload`, replacing a state the browser has not taken yet."""
    if queue.full():
        queue.get_nowait()
    queue.put_nowait(payload)
