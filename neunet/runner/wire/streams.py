"""The sweep runner's frames over asyncio streams: read_message (the worker's side), send_message.

The same frames as `neunet.runner.wire.frames` (which owns the format and the sync pipe framing
of the slot processes, and so does not import asyncio): `read_message` reads one frame from an
asyncio StreamReader (checking its tag with the connection's `session.Session`, if any),
`send_message` queues an unsealed one on a StreamWriter (a slot's pipe). The coordinator's
side of a connection is `neunet.runner.wire.reader.FrameReader`. An oversize, truncated,
forged or invalid frame raises `ProtocolError`, and the caller closes that one connection.
"""
from __future__ import annotations

import asyncio

from neunet.runner.wire.frames import (
    HEADER,
    MAX_FRAME_BYTES,
    ProtocolError,
    _check_length,
    pack,
    unpack,
)
from neunet.runner.wire.reader import FrameReader

__all__ = ["FrameReader", "read_body", "read_message", "send_message"]


async def read_body(reader, max_bytes: int = MAX_FRAME_BYTES) -> bytes | None:
    """Read one frame's body from an asyncio StreamReader (None at a clean end of stream
    between frames; `ProtocolError` for an oversize or truncated frame)."""
    try:
        head = await reader.readexactly(HEADER.size)
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise ProtocolError("stream ended inside a frame header") from None
    (n,) = HEADER.unpack(head)
    _check_length(n, max_bytes)
    try:
        return await reader.readexactly(n)
    except asyncio.IncompleteReadError as exc:
        raise ProtocolError(f"truncated frame: {len(exc.partial)} of {n} bytes") from None


async def read_message(reader, max_bytes: int = MAX_FRAME_BYTES, session=None) -> dict | None:
    """Read one message from an asyncio StreamReader or a `FrameReader`.

    Returns None on a clean end of stream between frames; raises `ProtocolError` for an
    oversize, truncated, invalid or (with `session`) unauthenticated frame.
    """
    if isinstance(reader, FrameReader):
        reader.set_limit(max_bytes)
        return await reader.next_message()
    body = await read_body(reader, max_bytes)
    if body is None:
        return None
    return unpack(session.open(body) if session is not None else body)


def send_message(writer, msg: dict) -> None:
    """Queue one unsealed message on an asyncio StreamWriter (the caller awaits ``drain()``)."""
    writer.write(pack(msg))
