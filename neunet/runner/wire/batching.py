"""Owns sending frames in batches: what is queued in one event-loop pass goes out in one write.

Both ends of a worker connection send many small messages (states, requests, acks) in bursts;
a write per message costs a syscall here and a wake-up of the peer there. `BatchedWriter`
queues packed frames and writes them together at the end of the loop pass (one
``writer.write``), after an optional `before_flush` hook has added its last frames (the
worker's request for tasks, sized by its capacity at that moment).
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
    """

    def __init__(self, writer, before_flush=None):
        self.writer = writer
        self.before_flush = before_flush
        self._out: list = []
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
        self.queue(frames.pack(msg))

    def queue(self, *packed) -> None:
        """Queue already packed frames (written in this order, after those queued before)."""
        if not self.writer.is_closing():
            self._out.extend(packed)
            self.schedule()

    def schedule(self) -> None:
        """Make sure a flush runs at the end of this loop pass (even with nothing queued:
        `before_flush` may have something to say)."""
        if not self._due:
            self._due = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        """Write what is queued now, in one write."""
        self._due = False
        if self.before_flush is not None:
            self.before_flush()
        out, self._out = self._out, []
        if out and not self.writer.is_closing():
            self.writer.write(b"".join(out))

    async def drain(self) -> None:
        """Flush, then wait until the transport's buffer has room."""
        self.flush()
        await self.writer.drain()
