"""Owns the runner's optional TLS: the coordinator's server context and the worker's checking one.

Over an untrusted network the frames' tags (`neunet.runner.wire.session`) already stop
forgery, replay and injection, but not eavesdropping: TLS adds encryption. The coordinator
serves with ``--tls-cert/--tls-key``; a worker connects with ``--tls-ca`` (the certificate
authority, or the coordinator's own self-signed certificate), checks the certificate chain
and that it names the host it connects to (or ``--tls-server-name``), and refuses to talk
otherwise. TLS 1.2 at least. The shared token is still required: TLS proves the coordinator
to the worker, the token proves the worker to the coordinator.
"""
from __future__ import annotations

import ssl

# Oldest TLS version either side accepts.
MIN_VERSION = ssl.TLSVersion.TLSv1_2


class TLSError(Exception):
    """A certificate, key or CA file that cannot be used."""


def server_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    """The coordinator's TLS context (its certificate chain and private key)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = MIN_VERSION
    try:
        ctx.load_cert_chain(cert_file, key_file)
    except (OSError, ssl.SSLError) as exc:
        raise TLSError(f"cannot use --tls-cert {cert_file} / --tls-key {key_file}: "
                       f"{getattr(exc, 'strerror', None) or exc}") from None
    return ctx


def client_context(ca_file: str | None) -> ssl.SSLContext:
    """A worker's TLS context: the coordinator's certificate must chain to `ca_file` (None:
    the system's certificate authorities) and name the host connected to."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ctx.minimum_version = MIN_VERSION
    if ca_file is not None:
        try:
            ctx.load_verify_locations(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise TLSError(f"cannot use --tls-ca {ca_file}: "
                           f"{getattr(exc, 'strerror', None) or exc}") from None
    return ctx


def certificate_name(cert_file: str) -> str | None:
    """A host name the certificate in `cert_file` is valid for (its first DNS name, else its
    common name): the name the coordinator's own local worker checks it against."""
    try:
        info = ssl._ssl._test_decode_cert(cert_file)  # the stdlib's PEM decoder
    except (OSError, ssl.SSLError, AttributeError):
        return None
    for kind, value in info.get("subjectAltName", ()):
        if kind == "DNS":
            return value
    for rdn in info.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return value
    return None
