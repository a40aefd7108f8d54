"""Shared-token authentication of the sweep runner: the handshake's session keys, token loading.

The token never crosses the network. The coordinator sends a random nonce (the challenge);
the worker picks its own nonce, and both derive the session key
``HMAC-SHA256(token, label | coordinator nonce | worker nonce)`` and from it one key per
direction. The worker's hello is the first sealed frame of its direction
(`neunet.runner.wire.session`), so its tag proves the worker knows the token; the
coordinator's welcome is the first of the other direction and proves the coordinator knows
it too, so a worker will not take tasks from an impostor. Every later frame is sealed the
same way (a tag and a sequence number), so nothing can be injected, replayed or reordered.
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import secrets
import socket

from neunet.runner.wire.session import Session

# Length of each side's random nonce (bytes).
NONCE_BYTES = 32
# Environment variable holding the shared token.
TOKEN_ENV = "NEUNET_TOKEN"
# Domain-separation labels of the session key and of its two directions.
_SESSION_LABEL = b"neunet-session-v2"
_TO_COORD, _TO_WORKER = b"worker->coordinator", b"coordinator->worker"


class AuthError(Exception):
    """Authentication failed or cannot be set up (bad token file, insecure binding)."""


def new_nonce() -> bytes:
    """Return a fresh random nonce."""
    return secrets.token_bytes(NONCE_BYTES)


def new_token() -> str:
    """Return a fresh random token (used when only local workers are started)."""
    return secrets.token_hex(32)


def session_keys(token: bytes, server_nonce: bytes, worker_nonce: bytes) -> tuple:
    """(worker -> coordinator key, coordinator -> worker key) of one connection."""
    if len(server_nonce) != NONCE_BYTES or len(worker_nonce) != NONCE_BYTES:
        raise AuthError(f"a nonce must have {NONCE_BYTES} bytes")
    key = hmac.new(token, _SESSION_LABEL + server_nonce + worker_nonce, hashlib.sha256).digest()
    return (hmac.new(key, _TO_COORD, hashlib.sha256).digest(),
            hmac.new(key, _TO_WORKER, hashlib.sha256).digest())


def worker_session(token: bytes, server_nonce: bytes, worker_nonce: bytes) -> Session:
    """The worker's end of a connection: it sends with the worker's key."""
    to_coord, to_worker = session_keys(token, server_nonce, worker_nonce)
    return Session(to_coord, to_worker)


def coordinator_session(token: bytes, server_nonce: bytes, worker_nonce: bytes) -> Session:
    """The coordinator's end of a connection: it sends with the coordinator's key."""
    to_coord, to_worker = session_keys(token, server_nonce, worker_nonce)
    return Session(to_worker, to_coord)


def load_token(token_file: str | None = None, environ=None) -> bytes | None:
    """Read the shared token from `token_file`, else from ``$NEUNET_TOKEN``; None if neither.

    Raises
    ------
    AuthError
        If the file cannot be read or holds an empty token.
    """
    environ = os.environ if environ is None else environ
    if token_file:
        try:
            with open(token_file, "rb") as f:
                token = f.read().strip()
        except OSError as exc:
            raise AuthError(f"cannot read token file {token_file}: {exc.strerror}") from None
        if not token:
            raise AuthError(f"token file {token_file} is empty")
        return token
    value = environ.get(TOKEN_ENV, "").strip()
    return value.encode() if value else None


def is_loopback(host: str) -> bool:
    """True if `host` (name or address) resolves only to loopback addresses."""
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def require_token_for(host: str, token: bytes | None) -> None:
    """Refuse to listen on a non-loopback address without a token (raises `AuthError`)."""
    if token is None and not is_loopback(host):
        raise AuthError(f"refusing to listen on {host} without a token: pass --token-file "
                        f"or set {TOKEN_ENV} (only 127.0.0.1 may run without one)")
