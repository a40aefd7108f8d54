"""Per-frame authentication of a runner connection: session keys, sealed frames, sequence numbers.

The handshake (`neunet.runner.wire.auth`) gives both sides two keys derived from the shared
token and both nonces, one per direction. Every frame from the hello on is sealed::

    frame = body length (4 bytes) | tag (16 bytes) | payload (a msgpack message, or a raw chunk)
    tag   = BLAKE2b-128(key = the direction's key, seq (8 bytes) | payload)

where seq counts the frames sent in that direction (the hello and the welcome are 0). The
sequence number is not sent: each side counts, so a replayed, reordered, dropped or injected
frame, or one reflected back from the other direction, fails its tag and the receiver closes
the connection. The tag is checked before the payload is decoded.

A raw ``chunk`` frame (result data) is sealed over its head and the length of its data, not
over the data itself: the data of a result is bound instead by the SHA-256 its authenticated
``result`` header announces (computed by the slot that wrote it), which the coordinator checks
before it stores or acknowledges anything. So a 50 MB result is hashed once, on the receiving
side, while it streams, instead of MACed on both sides.
"""
from __future__ import annotations

import hashlib
import hmac
import struct

from neunet.runner.wire.frames import HEADER, RAW_HEAD, RAW_MARK, ProtocolError

# Bytes of a frame's tag.
TAG_BYTES = 16
# A sequence number (and a chunk's data length) inside the tagged bytes.
_U64 = struct.Struct("!Q")
# Bytes of a raw chunk frame's payload before its head: the mark and the head's length.
_RAW_PREFIX = 1 + RAW_HEAD.size


class Session:
    """The two directions of one authenticated connection.

    Parameters
    ----------
    send_key, recv_key : bytes
        This side's sending key and the other side's (`neunet.runner.wire.auth.session_keys`).
    """

    __slots__ = ("_recv_key", "_send_key", "recv_seq", "send_seq")

    def __init__(self, send_key: bytes, recv_key: bytes):
        self._send_key, self._recv_key = send_key, recv_key
        self.send_seq = self.recv_seq = 0

    def _tag(self, key: bytes, seq: int, *parts) -> bytes:
        mac = hashlib.blake2b(_U64.pack(seq), key=key, digest_size=TAG_BYTES)
        for part in parts:
            mac.update(part)
        return mac.digest()

    def seal(self, payload: bytes) -> bytes:
        """A complete frame carrying `payload` (a packed message body), with the next seq."""
        tag = self._tag(self._send_key, self.send_seq, payload)
        self.send_seq += 1
        return HEADER.pack(TAG_BYTES + len(payload)) + tag + payload

    def seal_chunk(self, head: bytes, data) -> list:
        """A raw chunk frame as parts (frame header + tag + head, data) for ``writelines``;
        `head` is the payload up to the data (`frames.chunk_head`)."""
        n = len(data)
        tag = self._tag(self._send_key, self.send_seq, _U64.pack(n), head)
        self.send_seq += 1
        return [HEADER.pack(TAG_BYTES + len(head) + n) + tag + head, data]

    def open(self, body):
        """The payload of a received frame body (a memoryview of it), once its tag matches
        the next expected seq; `ProtocolError` otherwise. A chunk's data is not covered."""
        view = memoryview(body)
        if len(view) < TAG_BYTES + 1:
            raise ProtocolError("frame too short to carry a tag")
        tag, payload = view[:TAG_BYTES], view[TAG_BYTES:]
        if payload[0] == RAW_MARK and len(payload) >= _RAW_PREFIX:
            (n,) = RAW_HEAD.unpack_from(payload, 1)
            end = min(len(payload), _RAW_PREFIX + n)
            expected = self._tag(self._recv_key, self.recv_seq,
                                 _U64.pack(len(payload) - end), payload[:end])
        else:
            expected = self._tag(self._recv_key, self.recv_seq, payload)
        if not hmac.compare_digest(expected, tag):
            raise ProtocolError(f"frame {self.recv_seq} failed authentication (forged, "
                                "replayed, reordered or corrupted)")
        self.recv_seq += 1
        return payload
