"""Owns the dashboard's web server (aiohttp): its routes, the server-push stream and its lifecycle.

`Dashboard` runs on the event loop it is started from (the coordinator's own, or a thread's:
`serve_in_thread`). All reading of the run directory happens in one thread of its own, and
only while a browser watches: with nobody connected it costs nothing. Every
`PERIOD_S` (longer when a refresh is slow) the state (progress, workers, failures, task
stream) is encoded once and pushed to each browser over Server-Sent Events; the sweep plot
and a task's detail are fetched by the page when it needs them. The page and its scripts
come from this package and the installed `plotly` package (no network needed).
"""
from __future__ import annotations

import asyncio
import json
import re
import secrets
import socket
import time
from concurrent.futures import ThreadPoolExecutor

from neunet.runner.dashboard import access, assets, views
from neunet.runner.dashboard.model import RunModel, finite

# Seconds between pushes while somebody watches (at least; see COST_FACTOR).
PERIOD_S = 1.0
# A refresh that took t seconds is followed by at least COST_FACTOR * t seconds of rest.
COST_FACTOR = 10.0
# Seconds a state may be old and still answer /api/state (the event stream follows at once).
STALE_S = 30.0
# Sweep-plot answers kept (by run revision and axes).
SWEEP_CACHE = 8
# Seconds after the last browser left during which the model is still refreshed.
LINGER_S = 30.0
# Seconds between keep-alive comments on an idle event stream.
KEEPALIVE_S = 15.0
# Seconds a browser may take to accept a pushed state before it is dropped.
WRITE_TIMEOUT_S = 10.0
# Seconds an idle keep-alive connection (or one that sends nothing) is kept.
IDLE_TIMEOUT_S = 15.0
# Most event streams open at once, and task-detail reads at once.
MAX_STREAMS, MAX_DETAIL_READS = 16, 2
# Tells an event stream's browser to reconnect after 300 ms (a new sweep on the same port).
RETRY_LINE = b"retry: 300\n\n"
# Connections the kernel queues while the web server starts (its first visitor).
BACKLOG = 512
# Default dashboard port and how many ports above it are tried when it is taken.
DEFAULT_PORT, PORT_TRIES = 8722, 20
# A task id, and a parameter or statistic name, as a query may give them.
_TID = re.compile(r"[0-9A-Za-z_.-]{1,128}")
_NAME = re.compile(r"[^\x00-\x1f]{1,200}")


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
        self._runner = self._server = self._task = self._serving = self._sock = None

    # ------------------------------------------------------------ lifecycle
    async def start(self, eager: bool = False) -> str:
        """Listen; return the URL. The web server itself (aiohttp: ~0.3 CPU-seconds to
        import) is set up when the first browser connects, so a dashboard nobody opens costs
        the sweep one listening socket; `eager`: set it up now (nothing else to slow down)."""
        self._sock = self._bind()
        self._sock.setblocking(False)
        self.port = self._sock.getsockname()[1]
        self._allowed = access.allowed_hosts(self.host, self.port)
        self._open_host = self.host in ("0.0.0.0", "::", "")
        shown = "127.0.0.1" if self._open_host else self.host
        shown = f"[{shown}]" if ":" in shown else shown
        self.url = f"http://{shown}:{self.port}/"
        if eager:
            self._serving = asyncio.ensure_future(self._serve_http())
            await self._serving
        else:
            asyncio.get_running_loop().add_reader(self._sock.fileno(), self._first_visit)
        return self.url

    def _first_visit(self) -> None:
        """A connection waits: set up the web server (it accepts that connection)."""
        asyncio.get_running_loop().remove_reader(self._sock.fileno())
        self._serving = asyncio.ensure_future(self._serve_http())

    async def _serve_http(self) -> None:
        import importlib  # aiohttp is imported in a thread: dispatch goes on meanwhile
        await asyncio.to_thread(importlib.import_module, "aiohttp.web")
        from aiohttp import web
        app = web.Application(middlewares=[self._guard], client_max_size=access.MAX_BODY)
        app.router.add_get("/", self._index)
        app.router.add_get("/login", self._login_form)
        app.router.add_post("/login", self._login)
        app.router.add_get("/events", self._events)
        app.router.add_get("/api/state", self._state)
        app.router.add_get("/api/sweep", self._sweep)
        app.router.add_get("/api/task", self._task_detail)
        app.router.add_get("/static/{name}", self._static)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None,
                                     keepalive_timeout=IDLE_TIMEOUT_S)
        await self._runner.setup()
        factory = access.capped(self._runner.server, self._runner.server)
        self._server = await asyncio.get_running_loop().create_server(factory, sock=self._sock)
        self._task = asyncio.ensure_future(self._pusher())

    def _bind(self) -> socket.socket:
        ports = ([self.port] if self.port is not None
                 else range(DEFAULT_PORT, DEFAULT_PORT + PORT_TRIES))
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        for port in ports:
            try:
                return socket.create_server((self.host, port), family=family, backlog=BACKLOG)
            except OSError as exc:
                error = exc
        tried = (str(self.port) if self.port is not None
                 else f"{DEFAULT_PORT}..{DEFAULT_PORT + PORT_TRIES - 1}")
        raise OSError(f"cannot listen on {self.host}:{tried}: {error.strerror or error}")

    async def close(self) -> None:
        """Stop serving (open event streams end)."""
        if self._serving is None and self._sock is not None:  # nobody came
            asyncio.get_running_loop().remove_reader(self._sock.fileno())
            self._sock.close()
        elif self._serving is not None:
            await asyncio.gather(self._serving, return_exceptions=True)
        if self._task is not None:
            self._task.cancel()
        for queue in list(self._streams):
            _put_latest(queue, None)  # each stream handler returns on None
        if self._server is not None:
            self._server.close()
        if self._runner is not None:
            await self._runner.cleanup()
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
        self.model.refresh()
        state = run_state(self.model, live)
        state["run"]["session"] = self.session
        return json.dumps(state, separators=(",", ":"), allow_nan=False).encode()

    # ------------------------------------------------------------ requests
    def _guard_response(self, request):
        from aiohttp import web
        if len(request.query_string) > access.MAX_QUERY:
            return web.Response(status=414, text="query string too long")
        if not access.host_ok(request.headers.get("Host"), self._allowed, self._open_host):
            return web.Response(status=421, text="unexpected Host header")
        if request.method not in ("GET", "HEAD") and request.path != "/login":
            return web.Response(status=405, text="read-only")
        if self.login and request.path not in access.OPEN_PATHS and not access.logged_in(
                request.cookies.get(access.COOKIE), self.token):
            if request.path == "/":
                raise web.HTTPSeeOther("/login")
            return web.Response(status=401, text="log in first: /login")
        return None

    @property
    def _guard(self):
        from aiohttp import web

        @web.middleware
        async def guard(request, handler):
            refused = self._guard_response(request)
            if refused is not None:
                return refused
            response = await handler(request)
            for key, value in assets.SECURITY_HEADERS.items():
                response.headers.setdefault(key, value)
            return response
        return guard

    async def _index(self, request):
        from aiohttp import web
        return web.Response(text=assets.index_html(), content_type="text/html")

    async def _static(self, request):
        from aiohttp import web
        found = assets.static(request.match_info["name"])
        if found is None:
            raise web.HTTPNotFound()
        body, kind, cache = found
        return web.Response(body=body, content_type=kind,
                            headers={"Cache-Control": cache})

    async def _login_form(self, request):
        from aiohttp import web
        return web.Response(text=access.login_page(), content_type="text/html")

    async def _login(self, request):
        from aiohttp import web
        form = await request.post()
        given = form.get("token", "")
        if not self.login:
            raise web.HTTPSeeOther("/")
        if isinstance(given, str) and access.token_matches(given, self.token):
            response = web.HTTPSeeOther("/")
            response.set_cookie(access.COOKIE, access.session_value(self.token),
                                httponly=True, samesite="Strict", path="/")
            raise response
        await asyncio.sleep(access.LOGIN_DELAY_S)
        return web.Response(status=403, text=access.login_page("wrong token"),
                            content_type="text/html")

    async def _state(self, request):
        from aiohttp import web
        if self._last is None or time.monotonic() - self._last_s > STALE_S:
            await self.payload()  # else the event stream brings a fresh state at once
        return web.Response(body=self._last, content_type="application/json")

    async def _events(self, request):
        from aiohttp import web
        if len(self._streams) >= MAX_STREAMS:
            return web.Response(status=503, text="too many open dashboards")
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                               "Cache-Control": "no-cache"})
        await response.prepare(request)
        await response.write(RETRY_LINE)  # a page left open reconnects quickly
        queue: asyncio.Queue = asyncio.Queue(maxsize=1)
        if self._last is not None:
            queue.put_nowait(self._last)
        self._streams.add(queue)
        self._wake.set()
        try:
            await self._stream(response, queue)
        except (ConnectionError, asyncio.TimeoutError):
            pass
        finally:
            self._streams.discard(queue)
            self._left_s = time.monotonic()
        return response

    async def _stream(self, response, queue) -> None:
        while True:
            try:
                payload = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
                if payload is None:  # closing
                    return
                chunk = b"data: " + payload + b"\n\n"
            except asyncio.TimeoutError:
                chunk = b": keep-alive\n\n"
            await asyncio.wait_for(response.write(chunk), WRITE_TIMEOUT_S)

    async def _sweep(self, request):
        from aiohttp import web
        q = request.query
        x, y, colour = q.get("x", ""), q.get("y", ""), q.get("c", "")
        if not all(_NAME.fullmatch(v) for v in (x, y)) or (colour and not _NAME.fullmatch(colour)):
            return web.json_response({"error": "bad x, y or c"}, status=400)
        key = (self.model.rev, x, y, colour)
        if key not in self._sweeps:
            try:
                body = await asyncio.get_running_loop().run_in_executor(
                    self._pool, views.sweep_points, self.model, x, y, colour or None)
            except KeyError as exc:
                return web.json_response({"error": str(exc.args[0])}, status=400)
            self._sweeps[key] = _dumps(body).encode()
            while len(self._sweeps) > SWEEP_CACHE:
                self._sweeps.pop(next(iter(self._sweeps)))
        return web.Response(body=self._sweeps[key], content_type="application/json")

    async def _task_detail(self, request):
        from aiohttp import web

        from neunet.store import StoreError, open_run
        tid = request.query.get("tid", "")
        if not _TID.fullmatch(tid):
            return web.json_response({"error": "bad task id"}, status=400)
        async with self._detail_reads:
            try:
                body = await asyncio.get_running_loop().run_in_executor(
                    None, lambda: views.task_detail(open_run(self.model.run_dir), tid))
            except StoreError as exc:
                return web.json_response({"error": str(exc)}, status=404)
        return web.json_response(body, dumps=_dumps)


def _dumps(value) -> str:
    return json.dumps(value, separators=(",", ":"), default=_default, allow_nan=False)


def _default(value):
    import numpy as np
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
