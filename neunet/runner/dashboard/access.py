"""Owns who may see the dashboard and how much a visitor may cost: the login (the sweep's token,
then a cookie), the Host check, request size limits and the cap on open connections.

On a loopback address the dashboard is open to this machine's users (as the coordinator is);
bound to another address it asks for the sweep's token in a form and then sets a cookie holding
an HMAC of the token (never the token). It is read-only: GET everywhere, POST only to log in.
The Host header must name the address it listens on (a page of another site cannot read it
through DNS rebinding). Requests with long query strings are refused before any work, and
connections beyond `MAX_CONNECTIONS` are closed as they arrive, so a flood of visitors costs the
coordinator's event loop almost nothing.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import html

# Name of the session cookie.
COOKIE = "neunet_dashboard"
# Domain-separation label of the cookie's HMAC.
_COOKIE_LABEL = b"neunet-dashboard-session-v1"
# Longest query string accepted (characters).
MAX_QUERY = 1024
# Most connections open at once (the rest are closed when they arrive).
MAX_CONNECTIONS = 64
# Largest request body accepted (the login form), bytes.
MAX_BODY = 4096
# Seconds a failed login waits before answering (slows guessing).
LOGIN_DELAY_S = 0.5
# Paths served without a session (the login form and what it needs).
OPEN_PATHS = ("/login", "/static/dashboard.css")


def session_value(token: bytes) -> str:
    """The cookie value that proves a browser logged in with `token`."""
    return hmac.new(token, _COOKIE_LABEL, hashlib.sha256).hexdigest()


def logged_in(cookie: str | None, token: bytes) -> bool:
    """Whether the request's cookie value matches the token's (constant time)."""
    return isinstance(cookie, str) and hmac.compare_digest(cookie, session_value(token))


def token_matches(given: str, token: bytes) -> bool:
    """Whether a token typed into the login form is the sweep's (constant time)."""
    return hmac.compare_digest(given.strip().encode(), token)


def allowed_hosts(host: str, port: int) -> set[str]:
    """Host header values accepted for a server bound to `host`:`port`."""
    names = {host, f"[{host}]"} if ":" in host else {host}
    if host in ("127.0.0.1", "::1", "localhost"):
        names |= {"127.0.0.1", "localhost", "[::1]"}
    return {f"{name}:{port}" for name in names} | names


def host_ok(header: str | None, allowed: set[str], open_host: bool) -> bool:
    """Whether a request's Host header is acceptable (any, when bound to every address)."""
    return open_host or (header or "").lower() in allowed


def login_page(error: str = "") -> str:
    """The login form (self-contained: no script)."""
    note = f"<p class='error'>{html.escape(error)}</p>" if error else ""
    return ("<!doctype html><html><head><meta charset='utf-8'><title>neunet dashboard: "
            "log in</title><link rel='stylesheet' href='/static/dashboard.css'></head><body>"
            "<main class='login'><h1>neunet dashboard</h1><p>This dashboard is reachable from "
            "other machines, so it asks for the sweep's token (the coordinator's "
            "<code>--token-file</code> or <code>$NEUNET_TOKEN</code>).</p>" + note +
            "<form method='post' action='/login'><label>token <input type='password' "
            "name='token' id='token' autofocus></label> <button type='submit' id='login'>"
            "log in</button></form></main></body></html>")


def capped(factory, server, limit: int = MAX_CONNECTIONS):
    """A protocol factory that closes connections beyond `limit` open ones at once.

    Parameters
    ----------
    factory : callable
        aiohttp's protocol factory (``AppRunner.server``).
    server : aiohttp.web.Server
        The same object: its ``connections`` are the open ones.
    limit : int
        Most connections served at once.
    """
    def make():
        if len(server.connections) >= limit:
            return _Refuse()
        return factory()
    return make


class _Refuse(asyncio.Protocol):
    """Closes the connection at once (over the cap)."""

    def connection_made(self, transport):
        transport.abort()
