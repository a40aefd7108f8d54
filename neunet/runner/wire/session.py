"""Per-frame authentication of a runner connection: session keys, sealed frames, sequence numbers.

The handshake (`neunet.runner.wire.auth`) gives both sides two 256-bit keys derived from the
shared token and both nonces, one per direction. Every frame from the hello on is sealed::

    frame = body length (4 bytes) | 1 | tag (16 bytes) | payload (a msgpack message)
    tag   = GMAC(key = the direction's key, nonce = 0 | seq, data = payload)

GMAC is AES-256-GCM with nothing to encrypt (`cryptography`'s AESGCM, AES-NI: over 10 GB/s,
so authenticating a 50 MB result costs milliseconds), and seq counts the frames sent in that
direction (the hello and the welcome are 0). The sequence number is not sent: each side
counts, so a replayed, reordered, dropped or injected frame, or one reflected back from the
other direction, fails its tag and the receiver closes the connection; the tag is checked
before the payload is decoded. A raw ``chunk`` frame (result data) carries two tags, so its
data is authenticated where it lies, without a joined copy::

    frame = length | 2 | tag of (head, data length) | tag of data | head | data

with nonces 1 | seq and 2 | seq (the first byte of a sealed body says which kind it is; the
payload after the tags is the frame body `neunet.runner.wire.frames` decodes). Every byte
after the handshake is authenticated; nothing is encrypted (`neunet.runner.wire.tls` adds
that).
"""
from __future__ import annotations

import hmac
import struct

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from neunet.runner.wire.frames import HEADER, RAW_HEAD, RAW_MARK, ProtocolError

# Bytes of a tag.
TAG_BYTES = 16
# A sequence number, and a chunk's data length, as authenticated.
_U64 = struct.Struct("!Q")
# Bytes of a raw chunk frame's payload before its head: the mark and the head's length.
_RAW_PREFIX = 1 + RAW_HEAD.size
# The first nonce byte of each kind of tag (the other 11 are the sequence number).
_MESSAGE, _CHUNK_HEAD, _CHUNK_DATA = 0, 1, 2
# The first byte of a sealed frame's body: a message (one tag) or a chunk (two tags).
_SEALED_MESSAGE, _SEALED_CHUNK = b"\x01", b"\x02"


def _nonce(kind: int, seq: int) -> bytes:
    return bytes([kind]) + seq.to_bytes(11, "big")


class Session:
    """The two directions of one authenticated connection.

    Parameters
    ----------
    send_key, recv_key : bytes
        This side's sending key and the other side's (32 bytes each,
        `neunet.runner.wire.auth.session_keys`).
    """

    __slots__ = ("_recv", "_send", "recv_seq", "send_seq")

    def __init__(self, send_key: bytes, recv_key: bytes):
        self._send, self._recv = AESGCM(send_key), AESGCM(recv_key)
        self.send_seq = self.recv_seq = 0

    @staticmethod
    def _tag(aead: AESGCM, kind: int, seq: int, data) -> bytes:
        return aead.encrypt(_nonce(kind, seq), b"", data)

    def seal(self, payload: bytes) -> bytes:
        """A complete frame carrying `payload` (a packed message body), with the next seq."""
        tag = self._tag(self._send, _MESSAGE, self.send_seq, payload)
        self.send_seq += 1
        return HEADER.pack(1 + TAG_BYTES + len(payload)) + _SEALED_MESSAGE + tag + payload

    def seal_chunk(self, head: bytes, data) -> list:
        """A raw chunk frame as parts (frame header + tags + head, data) for ``writelines``;
        `head` is the payload up to the data (`frames.chunk_head`). `data` is not copied."""
        seq = self.send_seq
        tags = (self._tag(self._send, _CHUNK_HEAD, seq, head + _U64.pack(len(data)))
                + self._tag(self._send, _CHUNK_DATA, seq, data))
        self.send_seq += 1
        size = 1 + 2 * TAG_BYTES + len(head) + len(data)
        return [HEADER.pack(size) + _SEALED_CHUNK + tags + head, data]

    def open(self, body):
        """The payload of a received frame body (a memoryview of it), once its tags match
        the next expected seq; `ProtocolError` otherwise."""
        view = memoryview(body)
        if len(view) < 2 + TAG_BYTES:
            raise ProtocolError("frame too short to be sealed")
        kind = view[:1]
        if kind == _SEALED_MESSAGE:
            payload = view[1 + TAG_BYTES:]
            self._check(_MESSAGE, view[1:1 + TAG_BYTES], payload)
        elif kind == _SEALED_CHUNK:
            payload = self._open_chunk(view)
        else:
            raise ProtocolError("frame is not sealed")
        self.recv_seq += 1
        return payload

    def _open_chunk(self, view: memoryview):
        payload = view[1 + 2 * TAG_BYTES:]
        if len(payload) < _RAW_PREFIX or payload[0] != RAW_MARK:
            raise ProtocolError("malformed raw data frame")
        (n,) = RAW_HEAD.unpack_from(payload, 1)
        end = min(len(payload), _RAW_PREFIX + n)
        data = payload[end:]
        self._check(_CHUNK_HEAD, view[1:1 + TAG_BYTES],
                    bytes(payload[:end]) + _U64.pack(len(data)))
        self._check(_CHUNK_DATA, view[1 + TAG_BYTES:1 + 2 * TAG_BYTES], data)
        return payload

    def _check(self, kind: int, tag, data) -> None:
        expected = self._tag(self._recv, kind, self.recv_seq, data)
        if not hmac.compare_digest(expected, bytes(tag)):
            raise ProtocolError(f"frame {self.recv_seq} failed authentication (forged, "
                                "replayed, reordered or corrupted)")


def unverified_payload(body):
    """The payload of a sealed message frame whose tag cannot be checked yet (the hello: its
    key needs the nonce inside it); `ProtocolError` if it is no sealed message."""
    view = memoryview(body)
    if len(view) < 2 + TAG_BYTES or view[:1] != _SEALED_MESSAGE:
        raise ProtocolError("first frame is not a sealed hello")
    return view[1 + TAG_BYTES:]


