"""A result arriving at the coordinator: in memory, into a temp file, or moved from the spool.

`begin` takes a checked ``result`` header: a small result is collected in memory, a large one
is written chunk by chunk into a temp file in the run directory (flushed in the background
every `SYNC_EVERY_BYTES`; nothing is reserved up front on the word of the header), and a
result the local worker announces as ``spooled`` is moved from its spool file at the end
(every chunk's bytes were authenticated on arrival: `neunet.runner.wire.session`). `finish`
makes it complete and durable (or raises `ProtocolError`). A refused result (`refused`: not
leased to this worker, or invalid) has its data counted and dropped. `discard` removes what
an abandoned one left. The journal then renames the temp file into place and records the
result (see `neunet.runner.coordinator.store_writer`).
"""
from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass

from neunet.atomic import temp_path
from neunet.runner.wire import frames

# Results up to this size are kept in memory and written (fsync, rename) by the journal
# thread, off the event loop (bytes).
IN_MEMORY_MAX_BYTES = 1024 * 1024
# A large result being received is flushed to disk in the background every this many bytes,
# so the fsync at its end has little left to write (bytes).
SYNC_EVERY_BYTES = 4 * 1024 * 1024
# What a result waiting to be stored costs besides its bytes (its objects: header, summary,
# journal entry), counted in the read budget so that many tiny ones are bounded too (bytes).
RESULT_OVERHEAD_BYTES = 4096


@dataclass
class Upload:
    """One result being received from one worker."""
    tid: str
    summary: dict
    real_s: float
    size: int
    tmp: str | None = None  # the temp file in the run directory (large results)
    fd: int | None = None  # that file, open while chunks arrive
    received: int = 0
    t0: float = 0.0
    buf: bytearray | None = None  # small results stay in memory until the journal writes them
    synced: int = 0  # bytes handed to a background flush
    sync: object = None  # that flush (a future)
    digest: str | None = None  # result_hash computed by the worker's slot, if sent
    spooled: str | None = None  # the local worker's spool file it is moved from, if so
    refused: str | None = None  # why the result is not taken (its data is dropped)
    held: int = 0  # bytes of it counted in the coordinator's read budget
    budget: object = None  # that budget (`neunet.runner.wire.reader.ReadBudget`), if any


def begin(msg: dict, data_dir: str, local_spool: str | None, refused: str | None = None,
          budget=None) -> Upload:
    """Start receiving the result announced by a ``result`` message.

    Parameters
    ----------
    msg : dict
        The ``result`` message (tid, summary, real_s, size, hash?, spooled?).
    data_dir : str
        The run directory's data folder (temp files go there, beside their final names).
    local_spool : str or None
        The coordinator's local spool when this worker shares it, else None (a ``spooled``
        result is then refused).
    refused : str, optional
        Why this result is not taken: its data is counted and dropped.
    budget : ReadBudget, optional
        Counts the bytes of a small result while it is held in memory.
    """
    tid = msg["tid"]
    up = Upload(tid, msg["summary"], float(msg["real_s"]), msg["size"], t0=time.monotonic(),
                digest=msg.get("hash"), refused=refused, budget=budget)
    if refused is not None:
        return up
    if budget is not None:
        up.held = RESULT_OVERHEAD_BYTES
        budget.take(RESULT_OVERHEAD_BYTES)
    if msg.get("spooled"):  # in the local spool, on our filesystem: moved at its end
        if local_spool is None or up.size <= 0:
            raise frames.ProtocolError(f"spooled result {tid!r} from a worker that does not "
                                       "share the coordinator's spool")
        up.spooled = os.path.join(local_spool, f"{tid}.npz")
        up.tmp = _temp_path(data_dir, tid)
    elif 0 < up.size <= IN_MEMORY_MAX_BYTES:
        up.buf = bytearray()
    elif up.size:
        up.tmp = _temp_path(data_dir, tid)
        # opened here, not in a thread: a thread hop costs more than the open
        up.fd = os.open(up.tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    return up


def _temp_path(data_dir: str, tid: str) -> str:
    return temp_path(os.path.join(data_dir, f"{tid}.npz"))


def add_chunk(up: Upload | None, msg: dict) -> None:
    """Take one ``chunk`` of `up` (None: no such upload, a ProtocolError). An OSError from
    writing it (a full disk) leaves `up` as it was: the same chunk may be given again."""
    data = msg["data"]
    if up is None or up.received + len(data) > up.size or (
            up.refused is None and up.fd is None and up.buf is None):
        raise frames.ProtocolError(f"unexpected data chunk for {msg['tid']!r}")
    if up.buf is not None:
        up.buf += data
        up.held += len(data)
        if up.budget is not None:
            up.budget.take(len(data))
    elif up.fd is not None:  # straight into the page cache: cheaper than a thread hop per chunk
        _write_all(up.fd, data, up.received)
    up.received += len(data)
    if up.fd is not None and up.received - up.synced >= SYNC_EVERY_BYTES and (
            up.sync is None or up.sync.done()):
        up.synced = up.received
        up.sync = asyncio.get_running_loop().run_in_executor(None, os.fdatasync, up.fd)


async def finish(up: Upload | None, tid: str) -> None:
    """At its ``end``: the result is complete and, if in a file, durable; else ProtocolError
    (what it left is removed). An OSError from the final fsync (a full disk) propagates with
    the upload intact: `finish` may be called again."""
    if up is None or (up.spooled is None and up.received != up.size):
        await discard(up)
        raise frames.ProtocolError(f"incomplete result for {tid!r}")
    if up.refused is not None:
        return
    loop = asyncio.get_running_loop()
    if up.spooled is not None:
        try:
            await loop.run_in_executor(None, _take_spooled, up)
        except OSError as exc:  # moved, not durable: the worker will report it lost
            await discard(up)
            raise frames.ProtocolError(f"spooled result {up.tid!r}: {exc}") from None
        return
    if up.fd is not None:
        if up.sync is not None:
            await up.sync
        await loop.run_in_executor(None, os.fsync, up.fd)
        os.close(up.fd)
        up.fd = None


async def discard(up: Upload | None) -> None:
    """Close and remove what an unfinished or refused upload left (None: nothing); give
    back the memory it held."""
    if up is None:
        return
    release(up)
    if up.sync is not None:  # let a background flush finish before its fd closes
        await asyncio.gather(up.sync, return_exceptions=True)
    if up.fd is not None:
        os.close(up.fd)
        up.fd = None
    if up.tmp is not None:
        try:
            os.unlink(up.tmp)
        except FileNotFoundError:
            pass


def release(up: Upload) -> None:
    """Give back the memory `up` held in its budget (once its bytes are written or dropped)."""
    if up.budget is not None and up.held:
        up.budget.give(up.held)
    up.held = 0


def _take_spooled(up: Upload) -> None:
    """Move a local worker's spool file to the upload's temp name in the run directory (same
    filesystem: no copy) and make it durable; ProtocolError if it is not the announced size."""
    try:
        size = os.stat(up.spooled).st_size
    except OSError as exc:
        raise frames.ProtocolError(f"spooled result {up.tid!r}: {exc.strerror}") from None
    if size != up.size:
        raise frames.ProtocolError(f"spooled result {up.tid!r} has {size} bytes, "
                                   f"not {up.size}")
    os.replace(up.spooled, up.tmp)
    up.received = size
    fd = os.open(up.tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data, offset: int) -> None:
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        view, offset = view[n:], offset + n
