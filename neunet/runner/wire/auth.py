"""Shared-token authentication of the sweep runner: HMAC challenge-response, token loading.

The token never crosses the network. The coordinator sends a random nonce; the worker answers
with its own nonce and HMAC-SHA256(token, "worker" | server nonce | worker nonce); the
coordinator checks it in constant time and proves itself back with
HMAC-SHA256(token, "coordinator" | worker nonce | server nonce), so a worker will not take
tasks from an impostor either.
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import secrets
import socket

# Length of each side's random nonce (bytes).
NONCE_BYTES = 32
# Environment variable holding the shared token.
TOKEN_ENV = "NEUNET_TOKEN"
# Domain-separation labels of the two proofs.
_WORKER_LABEL, _COORD_LABEL = b"neunet-worker-v1", b"neunet-coordinator-v1"


class AuthError(Exception):
    """Authentication failed or cannot be set up (bad token file, insecure binding)."""


def new_nonce() -> bytes:
    """Return a fresh random nonce."""
    return secrets.token_bytes(NONCE_BYTES)


def new_token() -> str:
    """Return a fresh random token (used when only local workers are started)."""
    return secrets.token_hex(32)


def worker_proof(token: bytes, server_nonce: bytes, worker_nonce: bytes) -> bytes:
    """The MAC a worker sends to prove it knows the token."""
    return hmac.new(token, _WORKER_LABEL + server_nonce + worker_nonce, hashlib.sha256).digest()


def coordinator_proof(token: bytes, server_nonce: bytes, worker_nonce: bytes) -> bytes:
    """The MAC the coordinator sends back to prove it knows the token too."""
    return hmac.new(token, _COORD_LABEL + worker_nonce + server_nonce, hashlib.sha256).digest()


def check(expected: bytes, got) -> bool:
    """Constant-time comparison of a received MAC (any type) with the expected one."""
    return isinstance(got, bytes) and hmac.compare_digest(expected, got)


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
