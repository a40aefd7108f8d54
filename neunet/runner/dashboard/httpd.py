"""Owns the dashboard's HTTP/1.1 server on plain asyncio streams: parsing requests within strict
limits, keep-alive, responses, Server-Sent-Event streams, and the cap on open connections.

Small on purpose (nothing to import but the standard library: a coordinator that serves a
dashboard pays no import time for it) and strict: a request line of at most `MAX_LINE` bytes,
at most `MAX_HEADERS` header lines of `MAX_HEAD` bytes in all, a head that must arrive within
`IDLE_TIMEOUT_S`, GET, HEAD and POST only, a body only with a Content-Length of at most the
handler's limit (no chunked uploads), a cap on connections open at once (the rest are closed
as they arrive), idle connections closed then. Handlers are
coroutines ``handler(request) -> Response | EventStream``.
"""
from __future__ import annotations

import asyncio
import urllib.parse

# Longest request line (method, target, version), bytes.
MAX_LINE = 8192
# Most header lines, and most bytes of all header lines together.
MAX_HEADERS, MAX_HEAD = 64, 16384
# Seconds a request head may take to arrive (an idle keep-alive connection, or one that sends
# nothing or sends slowly, is closed then), and a request body.
IDLE_TIMEOUT_S, BODY_TIMEOUT_S = 15.0, 10.0
# Seconds a client may take to accept a response (or one event) before it is dropped.
WRITE_TIMEOUT_S = 10.0
# Seconds `HttpServer.close` waits for its connections' tasks to end.
CLOSE_WAIT_S = 2.0
# Methods understood (the handlers decide which they allow).
METHODS = ("GET", "HEAD", "POST")
# Most fields of a query string or form.
MAX_FIELDS = 32
# Reason phrases of the statuses this server sends.
REASONS = {200: "OK", 303: "See Other", 304: "Not Modified", 400: "Bad Request",
           401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
           408: "Request Timeout", 411: "Length Required", 413: "Content Too Large",
           414: "URI Too Long", 421: "Misdirected Request", 431: "Request Header Fields Too "
           "Large", 500: "Internal Server Error", 501: "Not Implemented", 503: "Service "
           "Unavailable", 505: "HTTP Version Not Supported"}


async def within(awaitable, timeout_s: float):
    """`awaitable`'s result, or asyncio.TimeoutError after `timeout_s` (it is then cancelled).

    Unlike ``asyncio.wait_for`` of Python 3.10 and 3.11, a cancellation of the caller is never
    lost when the awaitable completes at the same moment (a lost one left a coordinator
    waiting for ever for its dashboard to close).
    """
    task = asyncio.ensure_future(awaitable)
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout_s)
    finally:
        if not task.done():
            task.cancel()
    if not done:
        raise asyncio.TimeoutError
    return task.result()


class HttpError(Exception):
    """A request refused with `status` (and a one-line text body)."""

    def __init__(self, status: int, text: str = ""):
        super().__init__(text or REASONS.get(status, "error"))
        self.status, self.text = status, text or REASONS.get(status, "error")


class Request:
    """One parsed request: method, path, query (first value of each name), headers (lower-case
    names), cookies and the body (read only when a handler asks, within its limit)."""

    def __init__(self, method: str, target: str, version: str, headers: dict, reader):
        self.method, self.version, self.headers = method, version, headers
        self.path, _, self.query_string = target.partition("?")
        self._reader = reader
        self.body_read = False

    @property
    def query(self) -> dict:
        """Query fields (first value of each name)."""
        return _fields(self.query_string)

    @property
    def cookies(self) -> dict:
        """Cookie name -> value."""
        out = {}
        for part in self.headers.get("cookie", "").split(";"):
            name, sep, value = part.strip().partition("=")
            if sep:
                out.setdefault(name, value)
        return out

    async def form(self, limit: int) -> dict:
        """The url-encoded body's fields (413 when longer than `limit` bytes)."""
        if "transfer-encoding" in self.headers:
            raise HttpError(501, "chunked uploads are not accepted")
        size = _content_length(self.headers)
        if size > limit:
            raise HttpError(413, "body too large")
        body = await within(self._reader.readexactly(size), BODY_TIMEOUT_S)
        self.body_read = True
        return _fields(body.decode("utf-8", "replace"))


class Response:
    """A complete response: status, body and headers."""

    def __init__(self, status: int = 200, body: bytes | str = b"", content_type: str =
                 "text/plain; charset=utf-8", headers: dict | None = None):
        self.status = status
        self.body = body.encode() if isinstance(body, str) else body
        self.headers = {"Content-Type": content_type, **(headers or {})}


class EventStream:
    """A Server-Sent-Event response: `run(write)` writes events until it returns (the
    connection is then closed)."""

    def __init__(self, run, headers: dict | None = None):
        self.run, self.headers = run, headers or {}


def _fields(text: str) -> dict:
    try:
        pairs = urllib.parse.parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except ValueError:
        raise HttpError(400, "too many fields") from None
    out: dict = {}
    for name, value in pairs:
        out.setdefault(name, value)
    return out


def _content_length(headers: dict) -> int:
    text = headers.get("content-length", "0").strip()
    if not text.isdigit() or len(text) > 12:
        raise HttpError(400, "bad Content-Length")
    return int(text)


async def read_head(reader) -> tuple[str, str, str, dict]:
    """(method, target, version, headers) of the next request; None at a clean end."""
    try:
        line = await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial.strip():
            return None
        raise HttpError(400, "incomplete request") from None
    except asyncio.LimitOverrunError:
        raise HttpError(414, "request line too long") from None
    parts = line.decode("latin-1").strip().split(" ")
    if len(parts) != 3 or not parts[1].startswith("/"):
        raise HttpError(400, "bad request line")
    method, target, version = parts
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise HttpError(505)
    return method, target, version, await _read_headers(reader)


async def _read_headers(reader) -> dict:
    headers: dict = {}
    total = lines = 0
    while True:
        try:
            line = await reader.readuntil(b"\n")
        except asyncio.LimitOverrunError:
            raise HttpError(431) from None
        except asyncio.IncompleteReadError:
            raise HttpError(400, "incomplete request") from None
        total, lines = total + len(line), lines + 1
        if total > MAX_HEAD or lines > MAX_HEADERS + 1:  # the blank line ends the head
            raise HttpError(431)
        line = line.rstrip(b"\r\n")
        if not line:
            return headers
        name, sep, value = line.decode("latin-1").partition(":")
        if not sep or not name or name != name.strip():
            raise HttpError(400, "bad header line")
        name = name.lower()
        if name in headers and name in ("host", "content-length", "transfer-encoding"):
            raise HttpError(400, f"repeated {name}")
        headers[name] = value.strip()


def _keep_alive(version: str, headers: dict) -> bool:
    connection = headers.get("connection", "").lower()
    return "keep-alive" in connection if version == "HTTP/1.0" else "close" not in connection


def response_head(status: int, headers: dict, length: int | None, keep: bool) -> bytes:
    """The status line and headers of a response (no Content-Length when `length` is None)."""
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'OK')}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    lines.append("Connection: keep-alive" if keep else "Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class HttpServer:
    """Serves `handler` on a listening socket, on the running event loop.

    Parameters
    ----------
    handler : coroutine function
        ``handler(request) -> Response | EventStream`` (may raise `HttpError`).
    extra_headers : dict
        Headers added to every response (security headers).
    max_connections : int
        Most connections open at once (the rest are closed as they arrive).
    """

    def __init__(self, handler, extra_headers: dict | None, max_connections: int):
        self.handler, self.extra = handler, dict(extra_headers or {})
        self.max_connections = max_connections
        self.open = 0  # connections open now
        self._server = None
        self._tasks: dict = {}  # connection task -> its writer

    async def start(self, sock) -> None:
        """Accept connections on the listening socket `sock`."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._protocol, sock=sock)

    def _protocol(self):
        if self.open >= self.max_connections:
            return _Refuse()
        self.open += 1
        reader = asyncio.StreamReader(limit=MAX_LINE)
        return _Counted(self, reader, self._connected)

    def _connected(self, reader, writer) -> None:
        task = asyncio.ensure_future(self._serve(reader, writer))
        self._tasks[task] = writer
        task.add_done_callback(lambda done: self._tasks.pop(done, None))

    async def close(self) -> None:
        """Stop listening and end every open connection at once (its transport is aborted,
        its task cancelled); never waits more than `CLOSE_WAIT_S` for them."""
        if self._server is not None:
            self._server.close()
        tasks = list(self._tasks)
        for task, writer in list(self._tasks.items()):
            writer.transport.abort()
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=CLOSE_WAIT_S)

    async def _serve(self, reader, writer) -> None:
        try:
            while await self._one(reader, writer):
                pass
        except (ConnectionError, asyncio.TimeoutError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _one(self, reader, writer) -> bool:
        """Serve one request; whether the connection stays open for another."""
        try:
            head = await within(read_head(reader), IDLE_TIMEOUT_S)
            if head is None:
                return False
            request = Request(*head, reader)
            result = await self._dispatch(request)
        except HttpError as err:
            await self._send(writer, Response(err.status, err.text + "\n"), False, False)
            return False
        if isinstance(result, EventStream):
            await self._send_events(reader, writer, result)
            return False
        keep = _keep_alive(request.version, request.headers) and (
            request.body_read or _content_length(request.headers) == 0)
        await self._send(writer, result, keep, request.method == "HEAD")
        return keep

    async def _dispatch(self, request):
        if request.method not in METHODS:
            raise HttpError(405, "read-only")
        _content_length(request.headers)  # a bad one is refused before any work
        if "transfer-encoding" in request.headers:
            raise HttpError(501, "chunked uploads are not accepted")
        try:
            return await self.handler(request)
        except HttpError:
            raise
        except Exception as exc:  # a handler's bug: one line to the browser, the sweep goes on
            raise HttpError(500, f"{type(exc).__name__}: {exc}") from None

    async def _send(self, writer, response: Response, keep: bool, head_only: bool) -> None:
        headers = {**self.extra, **response.headers}
        writer.write(response_head(response.status, headers, len(response.body), keep))
        if not head_only:
            writer.write(response.body)
        await within(writer.drain(), WRITE_TIMEOUT_S)

    async def _send_events(self, reader, writer, stream: EventStream) -> None:
        """Run an event stream until it returns or its browser goes (it sends nothing more:
        the end of its input tells, at once)."""
        headers = {**self.extra, "Content-Type": "text/event-stream",
                   "Cache-Control": "no-cache", **stream.headers}
        writer.write(response_head(200, headers, None, False))

        async def write(chunk: bytes) -> None:
            writer.write(chunk)
            await within(writer.drain(), WRITE_TIMEOUT_S)
        await write(b"")
        events = asyncio.ensure_future(stream.run(write))
        gone = asyncio.ensure_future(reader.read(MAX_LINE))
        try:
            await asyncio.wait([events, gone], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (events, gone):
                task.cancel()
            await asyncio.gather(events, gone, return_exceptions=True)


class _Counted(asyncio.StreamReaderProtocol):
    """A stream protocol that tells its server when its connection ends."""

    def __init__(self, server: HttpServer, reader, connected):
        super().__init__(reader, connected)
        self._http_server = server

    def connection_lost(self, exc):
        self._http_server.open -= 1
        super().connection_lost(exc)


class _Refuse(asyncio.Protocol):
    """Closes the connection at once (over the cap)."""

    def connection_made(self, transport):
        transport.abort()
