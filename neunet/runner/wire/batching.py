"""Owns sending frames on a connection: sealed in the order they are written, batched per loop pass.

Both ends of a worker connection send many small messages (states, requests, acks) in bursts;
a write per message costs a syscall here and a wake-up of the peer there. `BatchedWriter`
queues messages and writes them together at the end of the loop pass (one
``writer.write``), after an optional `before_flush` hook has added its last ones (the
worker's request for tasks, sized by its capacity at that moment). Large results are written
at once, after what is queued (`write_now`, `write_chunk_now`). Every frame is sealed with
the connection's `neunet.runner.wire.session.Session` at the moment it is handed to the
transport, so the sequence numbers follow the order of the bytes on the wire.
"""
from __future__ import annotations

import asyncio

from neunet.runner.wire import frames


class BatchedWriter:
    """Frames for one asyncio stream, written together once per event-loop pass.

    Parameters
    ----------
    writer : asyncio.StreamWriter
        The connection (frames queued after it closes are dropped).
    before_flush : callable, optional
        Called at each flush before the queue is written (it may `send` more).
    session : neunet.runner.wire.session.Session, optional
        Seals every frame (None: plain frames, e.g. in tests of the framing alone).
    """

    def __init__(self, writer, before_flush=None, session=None):
        self.writer = writer
        self.before_flush = before_flush
        self.session = session
        self._out: list = []   # message bodies, and (chunk head, data) pairs
        self._due = False

    @property
    def closing(self) -> bool:
        """Whether the connection is closed or closing (frames are dropped)."""
        return self.writer.is_closing()

    @property
    def n_queued(self) -> int:
        """Frames queued, not yet written."""
        return len(self._out)

    def send(self, msg: dict) -> None:
        """Queue one message."""
        if not self.writer.is_closing():
            self._out.append(frames.pack_body(msg))
            self.schedule()

    def send_chunk(self, tid: str, data) -> None:
        """Queue one raw ``chunk`` frame of result data (a small result: copied once)."""
        if not self.writer.is_closing():
            self._out.append((frames.chunk_head(tid), data))
            self.schedule()

    def schedule(self) -> None:
        """Make sure a flush runs at the end of this loop pass (even with nothing queued:
        `before_flush` may have something to say)."""
        if not self._due:
            self._due = True
            asyncio.get_running_loop().call_soon(self.flush)

    def _frame_parts(self, item) -> list:
        """The bytes of one queued item as a sealed (or plain) frame, in parts."""
        if isinstance(item, tuple):
            head, data = item
            if self.session is not None:
                return self.session.seal_chunk(head, data)
            return [frames.HEADER.pack(len(head) + len(data)) + head, data]
        if self.session is not None:
            return [self.session.seal(item)]
        return [frames.HEADER.pack(len(item)), item]

    def flush(self) -> None:
        """Write what is queued now, in one write."""
        self._due = False
        if self.before_flush is not None:
            self.before_flush()
        out, self._out = self._out, []
        if out and not self.writer.is_closing():
            self.writer.write(b"".join(p for item in out for p in self._frame_parts(item)))

    def write_now(self, msg: dict) -> None:
        """Write one message now, after everything queued."""
        self.flush()
        if not self.writer.is_closing():
            self.writer.writelines(self._frame_parts(frames.pack_body(msg)))

    def write_chunk_now(self, tid: str, data) -> None:
        """Write one ``chunk`` frame now, after everything queued, without copying `data`
        (a view of a memory-mapped spool file goes to the socket as it is)."""
        self.flush()
        if not self.writer.is_closing():
            self.writer.writelines(self._frame_parts((frames.chunk_head(tid), data)))

    async def drain(self) -> None:
        """Flush, then wait until the transport's buffer has room."""
        self.flush()
        await self.writer.drain()
