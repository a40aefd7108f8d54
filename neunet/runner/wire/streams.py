"""The sweep runner's frames over asyncio streams: read_message, FrameReader, send_message.

The same frames as `neunet.runner.wire.frames` (which owns the format and the sync pipe framing of
the slot processes, and so does not import asyncio): `read_message` reads one frame from an
asyncio StreamReader, `FrameReader` is the coordinator's connection protocol reading frames
straight into buffers, `send_message` queues one on a StreamWriter. An oversize, truncated or
invalid frame raises `ProtocolError`, and the caller closes that one connection.
"""
from __future__ import annotations

import asyncio
import collections
import sys

from neunet.runner.wire.frames import (
    CHUNK_BYTES,
    HEADER,
    MAX_FRAME_BYTES,
    PREAUTH_FRAME_BYTES,
    READ_BUFFER_BYTES,
    ProtocolError,
    _check_length,
    pack,
    unpack,
)

# Frames with a body larger than this are read into a buffer of their own (bytes).
BIG_FRAME_BYTES = 64 * 1024
# A FrameReader stops reading while decoded messages of more than this wait (bytes).
QUEUE_BYTES = 2 * CHUNK_BYTES
# Bodies of large frames a FrameReader keeps to read later ones into.
SPARE_BIG_BUFFERS = 3


async def read_message(reader, max_bytes: int = MAX_FRAME_BYTES) -> dict | None:
    """Read one message from an asyncio StreamReader.

    Returns None on a clean end of stream between frames; raises `ProtocolError` for an
    oversize, truncated or invalid frame.
    """
    if isinstance(reader, FrameReader):
        reader.set_limit(max_bytes)
        return await reader.next_message()
    try:
        head = await reader.readexactly(HEADER.size)
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise ProtocolError("stream ended inside a frame header") from None
    (n,) = HEADER.unpack(head)
    _check_length(n, max_bytes)
    try:
        body = await reader.readexactly(n)
    except asyncio.IncompleteReadError as exc:
        raise ProtocolError(f"truncated frame: {len(exc.partial)} of {n} bytes") from None
    return unpack(body)


class FrameReader(asyncio.BufferedProtocol):
    """A server connection reading frames straight into buffers (no stream-buffer copies).

    Small frames land in one reused buffer and are decoded at once; the body of a frame over
    `BIG_FRAME_BYTES` is read into a bytearray of exactly its size, allocated only after its
    length passed the limit, so a ``chunk``'s data reaches the caller as a view of the bytes
    the socket wrote (50 MB results go to disk with one copy). Decoded messages queue up for
    `next_message`; reading pauses while more than `QUEUE_BYTES` wait. A frame over the
    limit, a body that is no valid message or a stream ending inside a frame is an error
    raised after the messages before it.

    Parameters
    ----------
    on_connect : coroutine function
        Called as ``on_connect(self, writer)`` (an `asyncio.StreamWriter`) per connection.
    max_bytes : int
        Largest frame body accepted until raised with `set_limit` (after authentication).
    """

    def __init__(self, on_connect, max_bytes: int = PREAUTH_FRAME_BYTES):
        self._loop = asyncio.get_running_loop()
        self._write_paused, self._lost = False, False
        self._drain_waiters: list = []
        self.on_connect, self.max_bytes = on_connect, max_bytes
        self._buf = bytearray(READ_BUFFER_BYTES)
        self._start = self._end = 0           # undecoded bytes are _buf[_start:_end]
        self._big, self._big_n = None, 0      # body of a large frame and bytes of it read
        self._spare: list = []                # bodies of earlier large frames, to reuse
        self.reused_buffers = 0               # large frames read into one of those
        self._msgs: collections.deque = collections.deque()  # (message, frame bytes)
        self._queued = 0
        self._error: BaseException | None = None
        self._eof = False
        self._waiter = None
        self._closed = None
        self.transport = None
        self._task = None

    # -------------------------------------------------------- asyncio protocol
    def connection_made(self, transport) -> None:
        self.transport = transport
        self._closed = self._loop.create_future()
        writer = asyncio.StreamWriter(transport, self, None, self._loop)
        self._task = self._loop.create_task(self.on_connect(self, writer))

    def get_buffer(self, sizehint: int):
        if self._big is not None:
            return memoryview(self._big)[self._big_n:]
        if self._start and len(self._buf) - self._end < READ_BUFFER_BYTES // 4:
            n = self._end - self._start  # move the partial frame to the front
            self._buf[:n] = self._buf[self._start:self._end]
            self._start, self._end = 0, n
        return memoryview(self._buf)[self._end:]

    def buffer_updated(self, nbytes: int) -> None:
        if self._error is not None:
            return
        try:
            if self._big is not None:
                self._big_n += nbytes
                if self._big_n == len(self._big):
                    body, self._big = self._big, None
                    self._push(unpack(body), len(body))
                    self._spare = [body] + self._spare[:SPARE_BIG_BUFFERS - 1]
            else:
                self._end += nbytes
                self._decode()
        except ProtocolError as exc:
            self._fail(exc)
        self._wake()

    def eof_received(self) -> bool:
        self._eof = True
        if self._big is not None or self._end > self._start:
            got = self._big_n if self._big is not None else self._end - self._start
            self._fail(ProtocolError(f"truncated frame: the stream ended after {got} bytes "
                                     "of it"))
        self._wake()
        return False

    def connection_lost(self, exc) -> None:
        if exc is not None and self._error is None:
            self._error = exc if isinstance(exc, ConnectionError) else ConnectionError(str(exc))
        elif not self._eof:
            self.eof_received()
        self._eof = True
        self._wake()
        if self._closed is not None and not self._closed.done():
            self._closed.set_result(None)
        self._lost = True
        self._wake_drain(exc)

    # the hooks asyncio.StreamWriter uses for drain() and wait_closed() (uvloop reads into
    # a buffer only from a protocol that is no asyncio.Protocol: no FlowControlMixin here)
    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._wake_drain(None)

    def _wake_drain(self, exc) -> None:
        waiters, self._drain_waiters = self._drain_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_exception(exc) if exc is not None else waiter.set_result(None)

    async def _drain_helper(self) -> None:
        if self._lost:
            raise ConnectionResetError("Connection lost")
        if self._write_paused:
            waiter = self._loop.create_future()
            self._drain_waiters.append(waiter)
            await waiter

    def _get_close_waiter(self, stream):
        return self._closed

    # -------------------------------------------------------- frames
    def _decode(self) -> None:
        buf, view = self._buf, memoryview(self._buf)
        while self._end - self._start >= HEADER.size:
            (n,) = HEADER.unpack_from(buf, self._start)
            _check_length(n, self.max_bytes)
            body_at = self._start + HEADER.size
            if self._end - body_at >= n:
                self._start = body_at + n
                self._push(unpack(bytes(view[body_at:self._start])), n)
            elif n > BIG_FRAME_BYTES:
                have = self._end - body_at
                self._big = self._spare_buffer(n) or bytearray(n)
                self._big[:have] = view[body_at:self._end]
                self._big_n = have
                self._start = self._end = 0
                return
            else:
                break
        if self._start == self._end:
            self._start = self._end = 0

    def _spare_buffer(self, n: int) -> bytearray | None:
        """An earlier large frame's body of exactly `n` bytes that nothing refers to any more
        (its message and the views of its data are gone), to read the next one into: no new
        allocation, zero-fill and page faults per 4 MiB chunk."""
        for i in range(len(self._spare)):
            # references: the list, getrefcount's argument; a live view of it adds one
            if len(self._spare[i]) == n and sys.getrefcount(self._spare[i]) == 2:
                self.reused_buffers += 1
                return self._spare.pop(i)
        return None

    def _push(self, msg: dict, nbytes: int) -> None:
        self._msgs.append((msg, nbytes))
        self._queued += nbytes
        if self._queued > QUEUE_BYTES and not self.transport.is_closing():
            self.transport.pause_reading()

    def _fail(self, exc: BaseException) -> None:
        self._error = exc
        self._big = None
        self._start = self._end = 0
        self.transport.pause_reading()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    # -------------------------------------------------------- consumer side
    def set_limit(self, max_bytes: int) -> None:
        """Accept frames up to `max_bytes` from now on (raise it before answering a hello)."""
        self.max_bytes = max_bytes

    async def next_message(self) -> dict | None:
        """The next message; None at a clean end of stream; raises `ProtocolError` or
        `ConnectionError` once the messages received before the fault are consumed."""
        while not self._msgs:
            if self._error is not None:
                raise self._error
            if self._eof:
                return None
            self._waiter = self._loop.create_future()
            await self._waiter
        msg, nbytes = self._msgs.popleft()
        self._queued -= nbytes
        if self._queued <= QUEUE_BYTES // 2 and self._error is None:
            transport = self.transport
            if not transport.is_closing() and not transport.is_reading():
                transport.resume_reading()
        return msg


def send_message(writer, msg: dict) -> None:
    """Queue one message on an asyncio StreamWriter (the caller awaits ``drain()``)."""
    writer.write(pack(msg))
