"""Owns the coordinator's side of a connection's bytes: `FrameReader` and its shared `ReadBudget`.

`FrameReader` is an asyncio buffered protocol reading frames straight into buffers. It costs
little until it must: a connection starts with a `SMALL_BUFFER_BYTES` buffer and, before it
has authenticated, reads exactly one frame of at most `frames.PREAUTH_FRAME_BYTES` (the
hello), hands it out undecoded (`next_hello`) and reads nothing more until `authenticated`
gives it the session: from then on every frame's tag is checked (`session.Session.open`)
before its payload is decoded. Its buffer grows while reads fill it and shrinks back when the
connection idles; a frame over `BIG_FRAME_BYTES` is read into a bytearray of its own,
allocated only after its length passed the limit, so a ``chunk``'s data reaches the caller
as a view of the bytes the socket wrote.

`ReadBudget` bounds the bytes all connections hold between the socket and the disk (decoded
messages waiting, large frame bodies being received, and what the server adds while a
result waits to be durable): a reader that would go over it pauses reading (the socket's
backlog stays in the kernel and the worker's sends block), and the paused readers resume
when the total is back under half of it.
"""
from __future__ import annotations

import asyncio
import collections
import sys
import time

from neunet.runner.wire.frames import HEADER, PREAUTH_FRAME_BYTES, ProtocolError, unpack

# First (and idle) size of a connection's read buffer (bytes).
SMALL_BUFFER_BYTES = 4 * 1024
# Frames with a body larger than this are read into a buffer of their own (bytes).
BIG_FRAME_BYTES = 64 * 1024
# Largest read buffer a busy connection grows to (many small frames per read; bytes).
BUSY_BUFFER_BYTES = 256 * 1024
# A connection stops reading while decoded messages of more than this wait (bytes).
QUEUE_BYTES = 8 * 1024 * 1024
# Bodies of large frames kept to read later ones into, and for how long after the last one.
SPARE_BIG_BUFFERS, SPARE_KEEP_S = 3, 1.0
# Consecutive small reads into an empty large buffer after which it shrinks back.
SHRINK_AFTER_READS = 8


class ReadBudget:
    """Bytes held in memory by all connections, with one limit (see the module docstring).

    Parameters
    ----------
    limit_bytes : int
        Above this, readers pause.
    """

    def __init__(self, limit_bytes: int):
        self.limit, self.used = limit_bytes, 0
        self._paused: set = set()

    @property
    def over(self) -> bool:
        """Whether the limit is exceeded (readers are pausing)."""
        return self.used > self.limit

    def take(self, nbytes: int) -> None:
        """Count `nbytes` more held."""
        self.used += nbytes

    def give(self, nbytes: int) -> None:
        """Count `nbytes` less held; resume the paused readers once under half the limit."""
        self.used -= nbytes
        if self._paused and self.used <= self.limit // 2:
            paused, self._paused = self._paused, set()
            for reader in paused:
                reader.budget_resumed()

    def park(self, reader) -> None:
        """`reader` paused for the budget: resume it later."""
        self._paused.add(reader)

    def unpark(self, reader) -> None:
        """Forget a paused reader (its connection is gone)."""
        self._paused.discard(reader)


class FrameReader(asyncio.BufferedProtocol):
    """A server connection reading frames straight into buffers (see the module docstring).

    Parameters
    ----------
    on_connect : coroutine function
        Called as ``on_connect(self, writer)`` (an `asyncio.StreamWriter`) per connection.
    max_bytes : int
        Largest frame body accepted until raised (`authenticated`, `set_limit`).
    budget : ReadBudget, optional
        Shared by the connections of one server (default: one of its own, unlimited).
    hello_first : bool
        Read one frame (the hello) and hold it undecoded until `authenticated`.
    admit : callable, optional
        ``admit(peername) -> bool`` at connection time: False closes the connection at once,
        before anything is allocated for it.
    """

    def __init__(self, on_connect, max_bytes: int = PREAUTH_FRAME_BYTES, budget=None,
                 hello_first: bool = False, admit=None):
        self._loop = asyncio.get_running_loop()
        self._write_paused, self._lost = False, False
        self._drain_waiters: list = []
        self.on_connect, self.max_bytes, self.admit = on_connect, max_bytes, admit
        self.budget = budget if budget is not None else ReadBudget(1 << 62)
        self.session = None
        # "hello": the next frame is the hello (kept undecoded); "held": it came, nothing more
        # is read until `authenticated`; "open": frames are checked and decoded
        self._phase = "hello" if hello_first else "open"
        self._buf = bytearray(SMALL_BUFFER_BYTES)
        self._start = self._end = 0           # undecoded bytes are _buf[_start:_end]
        self._small_reads = 0
        self._big, self._big_n = None, 0      # body of a large frame and bytes of it read
        self._spare: list = []                # bodies of earlier large frames, to reuse
        self._spare_s = 0.0
        self.reused_buffers = 0               # large frames read into one of those
        self._msgs: collections.deque = collections.deque()  # (message, bytes counted)
        self._queued = 0
        self._error: BaseException | None = None
        self._eof = self._budget_paused = False
        self.bytes_in = 0                     # bytes received on this connection
        self._waiter = self._closed = self.transport = self._task = None

    # -------------------------------------------------------- asyncio protocol
    def connection_made(self, transport) -> None:
        self.transport = transport
        if self.admit is not None and not self.admit(transport.get_extra_info("peername")):
            self._buf = bytearray()
            transport.abort()
            return
        self._closed = self._loop.create_future()
        writer = asyncio.StreamWriter(transport, self, None, self._loop)
        self._task = self._loop.create_task(self.on_connect(self, writer))

    def get_buffer(self, sizehint: int):
        if self._big is not None:
            return memoryview(self._big)[self._big_n:]
        size = len(self._buf)
        if self._start and size - self._end < size // 4:
            n = self._end - self._start  # move the partial frame to the front
            self._buf[:n] = self._buf[self._start:self._end]
            self._start, self._end = 0, n
        if self._end == size:
            self._resize(min(2 * size, self._largest()))
        return memoryview(self._buf)[self._end:]

    def _largest(self) -> int:
        """The largest read buffer allowed now: one pre-auth frame, or a busy connection's."""
        if self._phase != "open":
            return HEADER.size + PREAUTH_FRAME_BYTES
        return BUSY_BUFFER_BYTES

    def _resize(self, size: int) -> None:
        n = self._end - self._start
        if size <= n:
            raise ProtocolError(f"frame of {n} bytes and more does not fit the read buffer")
        buf = bytearray(size)
        buf[:n] = self._buf[self._start:self._end]
        self._buf, self._start, self._end = buf, 0, n

    def buffer_updated(self, nbytes: int) -> None:
        self.bytes_in += nbytes
        if self._error is not None:
            return
        try:
            if self._big is not None:
                self._big_n += nbytes
                if self._big_n == len(self._big):
                    body, self._big = self._big, None
                    self._take_body(body, len(body), counted=True)
                    self._spare = [body] + self._spare[:SPARE_BIG_BUFFERS - 1]
                    self._spare_s = time.monotonic()
            else:
                full = self._end + nbytes == len(self._buf)
                self._end += nbytes
                self._decode()
                self._adapt(nbytes, full)
        except ProtocolError as exc:
            self._fail(exc)
        self._wake()

    def _adapt(self, nbytes: int, full: bool) -> None:
        """Grow the buffer after a read that filled it; shrink an idle large one back."""
        size = len(self._buf)
        if full and self._start == self._end and size < self._largest():
            self._buf = bytearray(min(2 * size, self._largest()))
            self._start = self._end = 0
        elif size > SMALL_BUFFER_BYTES and self._start == self._end:
            self._small_reads = self._small_reads + 1 if nbytes < SMALL_BUFFER_BYTES else 0
            if self._small_reads >= SHRINK_AFTER_READS:
                self._buf, self._start, self._end = bytearray(SMALL_BUFFER_BYTES), 0, 0
                self._small_reads = 0

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
        while self._phase != "held" and self._end - self._start >= HEADER.size:
            (n,) = HEADER.unpack_from(buf, self._start)
            if n > self.max_bytes:
                raise ProtocolError(f"frame of {n} bytes exceeds the limit of "
                                    f"{self.max_bytes} bytes")
            body_at = self._start + HEADER.size
            if self._end - body_at >= n:
                self._start = body_at + n
                self._take_body(bytes(view[body_at:self._start]), n)
            elif n > BIG_FRAME_BYTES:
                if self.budget.over:  # wait for room before allocating its body
                    self._pause_for_budget()
                    return
                have = self._end - body_at
                self._big = self._spare_buffer(n) or bytearray(n)
                self._big[:have] = view[body_at:self._end]
                self._big_n = have
                self.budget.take(n)
                self._start = self._end = 0
                return
            else:
                break
        if self._start == self._end:
            self._start = self._end = 0

    def _take_body(self, body, nbytes: int, counted: bool = False) -> None:
        """Queue a complete frame body: the hello as it is (then hold), else its message
        once its tag is checked (`counted`: its bytes are in the budget already)."""
        if not counted:
            self.budget.take(nbytes)
        if self._phase == "hello":
            self._phase = "held"
            self._push(body, nbytes)
            self.transport.pause_reading()
            return
        try:
            payload = self.session.open(body) if self.session is not None else body
            msg = unpack(payload)
        except ProtocolError:
            self.budget.give(nbytes)
            raise
        if nbytes <= BIG_FRAME_BYTES and self._spare and (
                time.monotonic() - self._spare_s > SPARE_KEEP_S):
            self._spare = []  # the stream of large frames is over: give their memory back
        self._push(msg, nbytes)

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

    def _push(self, msg, nbytes: int) -> None:
        self._msgs.append((msg, nbytes))
        self._queued += nbytes
        if self.transport.is_closing():
            return
        if self._queued > QUEUE_BYTES:
            self.transport.pause_reading()
        elif self.budget.over:
            self._pause_for_budget()

    def _pause_for_budget(self) -> None:
        self._budget_paused = True
        self.budget.park(self)
        if not self.transport.is_closing():
            self.transport.pause_reading()

    def budget_resumed(self) -> None:
        """Called by the budget when there is room again."""
        self._budget_paused = False
        if self._error is not None or self.transport.is_closing():
            return
        try:
            self._decode()  # a large frame may have waited for room
        except ProtocolError as exc:
            self._fail(exc)
            self._wake()
            return
        self._maybe_resume()
        self._wake()

    def _maybe_resume(self) -> None:
        transport = self.transport
        if (self._error is None and not self._budget_paused and self._phase != "held"
                and self._queued <= QUEUE_BYTES // 2 and not transport.is_closing()
                and not transport.is_reading()):
            transport.resume_reading()

    def _fail(self, exc: BaseException) -> None:
        self._error = exc
        if self._big is not None:
            self.budget.give(len(self._big))
            self._big = None
        self._start = self._end = 0
        self.transport.pause_reading()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    # -------------------------------------------------------- consumer side
    def set_limit(self, max_bytes: int) -> None:
        """Accept frames up to `max_bytes` from now on."""
        self.max_bytes = max_bytes

    def authenticated(self, session, max_bytes: int) -> None:
        """The hello checked out: check every later frame with `session`, accept frames up to
        `max_bytes`, and read on."""
        self.session, self.max_bytes, self._phase = session, max_bytes, "open"
        try:
            self._decode()
        except ProtocolError as exc:
            self._fail(exc)
        self._maybe_resume()
        self._wake()

    def discard(self) -> None:
        """The connection is done with: give back what it still counts in the budget."""
        self.budget.give(sum(n for _, n in self._msgs))
        self._msgs.clear()
        self._queued = 0
        if self._big is not None:
            self.budget.give(len(self._big))
            self._big = None
        self._spare = []
        self.budget.unpark(self)

    async def _next(self):
        while not self._msgs:
            if self._error is not None:
                raise self._error
            if self._eof:
                return None
            self._waiter = self._loop.create_future()
            await self._waiter
        msg, nbytes = self._msgs.popleft()
        self._queued -= nbytes
        self.budget.give(nbytes)
        self._maybe_resume()
        return msg

    async def next_hello(self) -> bytes | None:
        """The body of the first frame, undecoded (None if the stream ended first)."""
        return await self._next()

    async def next_message(self) -> dict | None:
        """The next message; None at a clean end of stream; raises `ProtocolError` or
        `ConnectionError` once the messages received before the fault are consumed."""
        return await self._next()
