"""Owns who gets in: the caps on connections before authentication and the coordinator's handshake.

Before a connection has authenticated it costs a few KiB (`neunet.runner.wire.reader`), has
`HANDSHAKE_TIMEOUT_S` to finish, and only its hello is decoded; at most
`MAX_UNAUTHENTICATED` such connections exist at once, `MAX_UNAUTHENTICATED_PER_HOST` from one
address: the rest are closed as they arrive, before anything is allocated for them. The
handshake (`handshake`): a challenge, the worker's sealed hello (its tag proves the token;
a wrong one gets a ``refused`` frame so the worker can say what to pass), the coordinator's
sealed welcome, then the worker's first sealed message, ``join`` (what it holds). Refused
connections are logged as one line each, at most one a `LOG_EVERY_S` per kind of reason (a
flood does not fill the log); a connection that closes or times out before saying anything
(a port scan, an idle socket) is logged at debug level only.
"""
from __future__ import annotations

import logging
import time

from neunet.runner.wire import auth, frames
from neunet.runner.wire.batching import BatchedWriter
from neunet.runner.wire.session import unverified_payload

log = logging.getLogger("neunet.coordinator")

# Seconds allowed for a connection to complete the handshake (up to its join).
HANDSHAKE_TIMEOUT_S = 10.0
# Unauthenticated connections at once, in all and from one address.
MAX_UNAUTHENTICATED, MAX_UNAUTHENTICATED_PER_HOST = 256, 64
# Longest worker name kept (characters), and most slots a worker may announce.
MAX_NAME_CHARS, MAX_SLOTS = 100, 4096
# Seconds between two log lines about refused connections of one kind.
LOG_EVERY_S = 10.0


class Gate:
    """Counts unauthenticated connections, admits or closes new ones, logs refusals."""

    def __init__(self):
        self.pending, self.by_host = 0, {}
        self._logged: dict = {}  # kind -> [last log time, refusals not logged since]

    def admit(self, peer) -> bool:
        """Whether a new connection from `peer` (its peername) may start a handshake."""
        host = _host(peer)
        if (self.pending >= MAX_UNAUTHENTICATED
                or self.by_host.get(host, 0) >= MAX_UNAUTHENTICATED_PER_HOST):
            self.refused(peer, "too many unauthenticated connections", "cap")
            return False
        self.pending += 1
        self.by_host[host] = self.by_host.get(host, 0) + 1
        return True

    def release(self, peer) -> None:
        """A connection admitted by `admit` authenticated or went away."""
        host = _host(peer)
        self.pending -= 1
        left = self.by_host.get(host, 1) - 1
        if left > 0:
            self.by_host[host] = left
        else:
            self.by_host.pop(host, None)

    def refused(self, peer, reason, kind: str | None = None) -> None:
        """Log one refused connection: a line per `LOG_EVERY_S` and kind (by default: the
        reason without its numbers), with the count of those not logged in between."""
        now = time.monotonic()
        kind = kind or "".join(c for c in str(reason) if not c.isdigit())
        last = self._logged.setdefault(kind, [-LOG_EVERY_S, 0])
        if now - last[0] < LOG_EVERY_S:
            last[1] += 1
            return
        more = f" ({last[1]} more refused since the last such line)" if last[1] else ""
        log.warning("connection from %s refused: %s%s", _host(peer), reason, more)
        last[0], last[1] = now, 0


def _host(peer) -> str:
    return str(peer[0]) if isinstance(peer, (tuple, list)) and peer else "?"


def quiet(exc: BaseException) -> bool:
    """Whether a failed handshake is just a connection that went away or said nothing (a
    port scan, an idle socket)."""
    return isinstance(exc, (ConnectionError, TimeoutError))


def parse_hello(body: bytes) -> dict:
    """The hello inside a sealed first frame (its tag not checked yet: the key needs its
    nonce), with its fields checked; ProtocolError otherwise."""
    if body is None:
        raise ConnectionError("closed before its hello")
    hello = frames.unpack(unverified_payload(body))
    if hello["t"] != "hello":
        raise frames.ProtocolError(f"expected hello, got {hello['t']!r}")
    if len(hello["cnonce"]) != auth.NONCE_BYTES or not frames.valid_tid(hello["worker"]):
        raise frames.ProtocolError("malformed hello")
    if not 0 <= hello["slots"] <= MAX_SLOTS:
        raise frames.ProtocolError(f"hello announces {hello['slots']} slots")
    hello["name"] = "".join(c for c in hello["name"][:MAX_NAME_CHARS] if c.isprintable())
    return hello


async def handshake(coord, reader, writer) -> tuple:
    """Authenticate a new connection for `coord` (a `server.Coordinator`): (hello, join,
    sealed writer) or an exception (ProtocolError, AuthError, ConnectionError)."""
    nonce = auth.new_nonce()
    writer.write(frames.pack({"t": "challenge", "nonce": nonce, "version": frames.VERSION}))
    body = await reader.next_hello()
    hello = parse_hello(body)
    session = auth.coordinator_session(coord.token, nonce, hello["cnonce"])
    try:
        session.open(body)
    except frames.ProtocolError:
        writer.write(frames.pack({"t": "refused", "reason": "wrong token", "code": "token"}))
        raise auth.AuthError("wrong token (its hello's tag did not match)") from None
    hello["spooled"] = (coord.local_spool is not None
                        and hello.get("spool") == coord.local_spool)
    out = BatchedWriter(writer, session=session)
    out.write_now({"t": "welcome", "heartbeat_s": 1.0, "filter": coord.filter_spec,
                   "max_frame": coord.max_frame_bytes, "max_result": coord.max_result_bytes,
                   "spooled": hello["spooled"]})
    reader.authenticated(session, coord.max_frame_bytes)
    join = await reader.next_message()
    if join is None:
        raise ConnectionError("closed during the handshake")
    if join["t"] != "join":
        raise frames.ProtocolError(f"expected join, got {join['t']!r}")
    return hello, join, out
