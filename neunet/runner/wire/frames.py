"""Wire format of the sweep runner: length-prefixed msgpack frames, and their sync pipe framing.

A frame is a 4-byte big-endian body length followed by a msgpack body. Reading a frame reads
exactly that many bytes (never "whatever recv returned", the seed's broken-message bug), and a
length over the limit, a stream ending inside a frame, or a body that is not a known message
raises `ProtocolError` with the reason, so the caller closes that one connection. numpy arrays
travel as msgpack extension types (dtype, shape, raw bytes); nothing is ever pickled.

Every message is a dict with a type field ``"t"``; `MESSAGES` lists the types and the fields
each must carry. Large results are sent as one ``result`` header, ``chunk`` frames of at most
`CHUNK_BYTES`, and an ``end`` frame, so neither side holds a whole result in memory.

This module reads frames from pipes synchronously (a slot process, which never imports
asyncio); `neunet.runner.wire.streams` reads the same frames from asyncio streams.
"""
from __future__ import annotations

import struct
import sys

import msgpack

# Frame header: unsigned 32-bit big-endian body length.
HEADER = struct.Struct("!I")
# Default largest accepted frame body (bytes).
MAX_FRAME_BYTES = 64 * 1024 * 1024
# Largest frame accepted before a connection has authenticated: only the hello (bytes).
PREAUTH_FRAME_BYTES = 4 * 1024
# Size of the data chunks a result file is streamed in (bytes).
CHUNK_BYTES = 4 * 1024 * 1024
# Size of a pipe read (bytes).
READ_BUFFER_BYTES = 256 * 1024
# msgpack extension type code of a numpy array.
EXT_NDARRAY = 42
# dtype kinds allowed on the wire: bool, ints, floats, complex, bytes, unicode.
_DTYPE_KINDS = set("biufcSU")
# First body byte of a raw data frame (a msgpack body never starts with it: messages are maps).
RAW_MARK = 0
# Raw data frame prefix after the mark: length of the msgpack head that precedes the data.
RAW_HEAD = struct.Struct("!I")
# Protocol version, checked in the handshake (2: sealed frames, `neunet.runner.wire.session`).
VERSION = 2
# Longest task id accepted on the wire, and the characters it may use (tids are hex hashes;
# anything else, e.g. a NUL or a path, is refused as a protocol error).
MAX_TID_CHARS = 64
_TID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")

# Message type -> {field: python type(s)} that must be present.
MESSAGES = {
    # handshake (see auth.py and session.py): hello and welcome are sealed, the proofs
    "challenge": {"nonce": bytes, "version": int},
    "hello": {"worker": str, "name": str, "slots": int, "cnonce": bytes},
    "welcome": {"heartbeat_s": (int, float)},
    "refused": {"reason": str},
    "join": {"running": list, "held": list},
    # worker -> coordinator
    "request": {"n": int},
    "heartbeat": {"slots": list},
    "state": {"tid": str, "state": str},
    "result": {"tid": str, "summary": dict, "real_s": (int, float), "size": int},
    "chunk": {"tid": str, "data": (bytes, memoryview)},
    "end": {"tid": str},
    "failed": {"tid": str, "error": str, "kind": str, "real_s": (int, float)},
    "released": {"tids": list},
    "bye": {},
    # coordinator -> worker
    "tasks": {"tasks": list},
    "ack": {"tid": str},
    "cancel": {"tid": str},
    "shutdown": {"mode": str},
    # coordinator/worker -> slot process and back
    "run": {"tid": str, "pm": dict, "out": str},
    "ready": {},
    "done": {"tid": str, "summary": dict, "real_s": (int, float), "size": int},
    "error": {"tid": str, "error": str},
}

# Message type -> {optional field: python type(s)} checked when present.
OPTIONAL = {
    "hello": {"spool": str},
    "welcome": {"spooled": bool, "max_frame": int, "max_result": int},
    "refused": {"code": str},
    "request": {"left_s": (int, float)},
    "result": {"hash": str, "spooled": bool},
    "failed": {"kind": str},
    "done": {"hash": str},
    "error": {"kind": str},
}
# Fields holding one task id, and fields holding a list of them (checked by `valid_tid`).
_TID_FIELDS, _TID_LIST_FIELDS = ("tid",), ("tids", "running", "held")


class ProtocolError(Exception):
    """A frame or message that breaks the protocol; the connection carrying it is closed."""


def _default(obj):
    np = sys.modules.get("numpy")  # numpy is imported lazily: without it there are no arrays
    if np is not None and isinstance(obj, np.ndarray):
        return _pack_array(obj)
    if np is not None and isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, (tuple, set, frozenset)):
        return list(obj)
    raise TypeError(f"cannot send {type(obj).__name__} over the wire")


def _pack_array(arr) -> msgpack.ExtType:
    import numpy as np
    if arr.dtype.kind not in _DTYPE_KINDS:
        raise TypeError(f"cannot send arrays of dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr)
    head = msgpack.packb([arr.dtype.str, list(arr.shape)])
    return msgpack.ExtType(EXT_NDARRAY, HEADER.pack(len(head)) + head + arr.tobytes())


def _ext_hook(code: int, data: bytes):
    if code != EXT_NDARRAY:
        raise ProtocolError(f"unknown extension type {code}")
    import numpy as np  # only a message carrying an array needs it (the worker never loads it)
    try:
        (n,) = HEADER.unpack_from(data)
        dtype_str, shape = msgpack.unpackb(data[4:4 + n])
        dtype = np.dtype(dtype_str)
        if dtype.kind not in _DTYPE_KINDS:
            raise ValueError(f"dtype {dtype} not allowed")
        arr = np.frombuffer(data, dtype=dtype, offset=4 + n)
        return arr.reshape([int(s) for s in shape])
    except ProtocolError:
        raise
    except Exception as exc:  # any malformed array header or size mismatch
        raise ProtocolError(f"bad array in message: {exc}") from None


def pack_body(msg: dict) -> bytes:
    """Encode one message as a frame body (msgpack; numpy arrays allowed anywhere inside)."""
    return msgpack.packb(msg, default=_default, use_bin_type=True)


def pack(msg: dict) -> bytes:
    """Encode one message as a complete unsealed frame (header + body): the challenge, a
    refusal, and the frames of a slot's pipes.

    Parameters
    ----------
    msg : dict
        A message with a type field ``"t"``; numpy arrays allowed anywhere inside.

    Returns
    -------
    bytes
        The frame.
    """
    body = pack_body(msg)
    return HEADER.pack(len(body)) + body


def chunk_head(tid: str) -> bytes:
    """The body of a raw ``chunk`` frame up to its data: the mark, the head's length, the
    msgpack head. The data bytes follow it inside the frame instead of being msgpack encoded,
    so neither side copies them to encode or decode (50 MB results stream at disk speed)."""
    head = msgpack.packb({"t": "chunk", "tid": tid}, use_bin_type=True)
    return bytes([RAW_MARK]) + RAW_HEAD.pack(len(head)) + head


def pack_chunk(tid: str, data) -> list:
    """An unsealed ``chunk`` message as frame parts (header + head, data) for ``writelines``."""
    head = chunk_head(tid)
    return [HEADER.pack(len(head) + len(data)) + head, data]


def _unpack_raw(body: bytes) -> dict:
    if len(body) < 1 + RAW_HEAD.size:
        raise ProtocolError("raw data frame too short")
    (n,) = RAW_HEAD.unpack_from(body, 1)
    start = 1 + RAW_HEAD.size
    if start + n > len(body):
        raise ProtocolError("raw data frame head overruns the frame")
    view = memoryview(body)
    try:
        msg = msgpack.unpackb(view[start:start + n], raw=False, strict_map_key=True)
    except Exception as exc:
        raise ProtocolError(f"raw data frame head is not valid msgpack: {exc}") from None
    if not isinstance(msg, dict) or msg.get("t") != "chunk":
        raise ProtocolError("raw data frame is not a chunk")
    msg["data"] = view[start + n:]
    validate(msg)
    return msg


def unpack(body) -> dict:
    """Decode and validate one frame body (bytes or a memoryview; a sealed frame's payload);
    raise `ProtocolError` if it is not a valid message."""
    if len(body) and body[0] == RAW_MARK:
        return _unpack_raw(body)
    try:
        msg = msgpack.unpackb(body, ext_hook=_ext_hook, raw=False, strict_map_key=True)
    except ProtocolError:
        raise
    except Exception as exc:
        raise ProtocolError(f"body is not valid msgpack: {exc}") from None
    validate(msg)
    return msg


def validate(msg) -> None:
    """Check a decoded message against `MESSAGES`; raise `ProtocolError` naming the fault."""
    if not isinstance(msg, dict):
        raise ProtocolError(f"message is a {type(msg).__name__}, not a map")
    kind = msg.get("t")
    fields = MESSAGES.get(kind) if isinstance(kind, str) else None
    if fields is None:
        raise ProtocolError(f"unknown message type {kind!r}")
    for name, types in fields.items():
        if not _is_a(msg.get(name), types):
            raise ProtocolError(f"message {kind!r}: field {name!r} missing or of wrong type")
    for name, types in OPTIONAL.get(kind, {}).items():
        value = msg.get(name)
        if value is not None and not _is_a(value, types):
            raise ProtocolError(f"message {kind!r}: field {name!r} of wrong type")
    for name in _TID_FIELDS:
        if name in fields and not valid_tid(msg[name]):
            raise ProtocolError(f"message {kind!r}: {name!r} is not a task id")
    for name in _TID_LIST_FIELDS:
        if name in fields and not all(valid_tid(t) for t in msg[name]):
            raise ProtocolError(f"message {kind!r}: {name!r} holds something not a task id")


def valid_tid(value) -> bool:
    """Whether `value` can be a task id: a string of 1 to `MAX_TID_CHARS` letters, digits,
    ``_``, ``-`` or ``.``, not starting with ``.`` (it names a file in the run directory)."""
    return (isinstance(value, str) and 0 < len(value) <= MAX_TID_CHARS
            and value[0] != "." and _TID_CHARS.issuperset(value))


def _is_a(value, types) -> bool:
    """isinstance, except that a bool is no int (True is not a count of bytes)."""
    if isinstance(value, bool):
        return bool in (types if isinstance(types, tuple) else (types,))
    return isinstance(value, types)


def _check_length(n: int, max_bytes: int) -> None:
    if n > max_bytes:
        raise ProtocolError(f"frame of {n} bytes exceeds the limit of {max_bytes} bytes")


class PipeFrames:
    """Messages read from a pipe's file descriptor, synchronously (a slot's input).

    `next` blocks for the next message; `waiting` counts the complete messages already sent
    to this end (it takes what the pipe holds without blocking), so a slot can tell that more
    work is queued behind the task it just finished.
    """

    def __init__(self, fd: int, max_bytes: int = MAX_FRAME_BYTES):
        self.fd, self.max_bytes = fd, max_bytes
        self._buf = bytearray()
        self._eof = False

    def _read(self, block: bool) -> bool:
        """Append what the pipe holds (waiting for data if `block`); False when nothing came."""
        import os
        import select
        if self._eof or (not block and not select.select([self.fd], [], [], 0)[0]):
            return False
        data = os.read(self.fd, READ_BUFFER_BYTES)
        self._eof = not data
        self._buf += data
        return bool(data)

    def _frame_end(self, start: int) -> int:
        """End offset of the complete frame at `start`, or 0 when it is not all here yet."""
        if len(self._buf) - start < HEADER.size:
            return 0
        (n,) = HEADER.unpack_from(self._buf, start)
        _check_length(n, self.max_bytes)
        end = start + HEADER.size + n
        return end if end <= len(self._buf) else 0

    def waiting(self) -> int:
        """Number of complete messages received and not yet taken by `next`."""
        while self._read(block=False):
            pass
        count, at = 0, 0
        while (end := self._frame_end(at)):
            count, at = count + 1, end
        return count

    def next(self) -> dict | None:
        """The next message (waiting for it); None at a clean end of stream."""
        while not (end := self._frame_end(0)):
            if not self._read(block=True):
                if self._buf:
                    raise ProtocolError(f"stream ended inside a frame ({len(self._buf)} bytes)")
                return None
        body = bytes(self._buf[HEADER.size:end])
        del self._buf[:end]
        return unpack(body)
