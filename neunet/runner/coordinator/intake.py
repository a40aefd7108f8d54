"""Owns a result's way in at the coordinator: header checked, data received, recorded, stored.

A ``result`` header is checked first (`result_check`; and the task must have been leased to
that worker), its ``chunk`` frames are received by `uploads` (into memory or a temp file,
hashed on the way and checked against the header's SHA-256 at its ``end``), then the
scheduler gets a `ResultIn` and asks for a `Record`: the journal stores it and only then
does the scheduler hear `Stored` (the task is finished, the worker gets its ``ack``), or
`StoreFailed` (the task runs again). A refused result's data is dropped as it comes; an
invalid one fails that run of the task. While the disk is full, writes are tried again
every `DISK_RETRY_S` (the coordinator then reads nothing more from that worker).
"""
from __future__ import annotations

import asyncio
import logging
import os
import time

from neunet.runner.coordinator import result_check, uploads
from neunet.runner.coordinator import scheduler as S
from neunet.runner.coordinator.store_writer import is_disk_full
from neunet.runner.wire import frames

log = logging.getLogger("neunet.coordinator")

# Default largest result accepted (bytes; --max-result-mb).
MAX_RESULT_BYTES = 1024 * 1024 * 1024
# Seconds between tries to write a result's data while the disk is full.
DISK_RETRY_S = 1.0
# Results at least this large get a DEBUG log line with their transfer time (bytes).
LOG_TRANSFER_MIN_BYTES = 1024 * 1024


class Intake:
    """The results arriving at one coordinator (`coord`, a `server.Coordinator`)."""

    def __init__(self, coord):
        self.coord = coord

    def record(self, ins: S.Record) -> None:
        """Carry out a Record: queue the result in the journal; Stored or StoreFailed follow."""
        up = ins.upload
        fut = self.coord.journal.record(
            ins.tid, up.summary if up else {}, ins.real_s, self.coord._name(ins.wid),
            up.tmp if up else None, up.buf if up is not None and up.buf else None,
            up.digest if up is not None else None)
        fut.add_done_callback(lambda f: asyncio.ensure_future(self._recorded(ins, f)))

    async def _recorded(self, ins: S.Record, fut) -> None:
        """The journal stored the result (the task is finished, the worker gets its ack) or
        could not (the task runs again)."""
        up = ins.upload
        if up is not None:
            uploads.release(up)
        exc = None if fut.cancelled() else fut.exception()
        now = time.monotonic()
        if fut.cancelled() or exc is not None:
            why = "cancelled" if exc is None else f"{type(exc).__name__}: {exc}"
            log.error("result %s from %s could not be stored: %s", ins.tid,
                      self.coord._name(ins.wid), why)
            await uploads.discard(up)
            counted = isinstance(exc, ValueError)  # its data is not what it claims to be
            await self.coord.handle(S.StoreFailed(ins.wid, ins.tid, why, counted, now))
            return
        await self.coord.handle(S.Stored(ins.wid, ins.tid, now))
        if up is not None and up.size >= LOG_TRANSFER_MIN_BYTES:
            how = "moved from the local spool" if up.spooled else "received"
            log.debug("result %s: %.1f MB %s and stored in %.3f s", up.tid, up.size / 1e6,
                      how, now - up.t0)

    async def header(self, conn, msg: dict) -> None:
        """A ``result`` header: checked, and its upload begun (refused ones drop their data)."""
        await uploads.discard(conn.uploads.pop(msg["tid"], None))
        if msg.get("spooled") and not conn.spooled:
            raise frames.ProtocolError(f"spooled result {msg['tid']!r} from a worker that "
                                       "does not share the coordinator's spool")
        refused = None
        if not self.coord.sched.leased(conn.wid, msg["tid"]):
            refused = "not leased"  # never given to this worker, or closed: dropped
        else:
            why = result_check.problem(msg, self.coord.max_result_bytes)
            refused = None if why is None else f"invalid result: {why}"
        spool = self.coord.local_spool if conn.spooled else None
        up = uploads.begin(msg, os.path.join(self.coord.store.run_dir, "data"), spool, refused,
                           self.coord.budget)
        conn.uploads[up.tid] = up

    async def chunk(self, conn, msg: dict) -> None:
        """A ``chunk`` of data (a full disk: tried again until there is space)."""
        up = conn.uploads.get(msg["tid"])
        while True:
            try:
                uploads.add_chunk(up, msg)
                break
            except OSError as exc:
                if not is_disk_full(exc):
                    up.refused = f"cannot write it: {exc.strerror or exc}"  # drop the rest
                    break
                await self._wait_for_space(up, exc)
        self.coord.on_disk_full(None, id(up))

    async def _wait_for_space(self, up, exc) -> None:
        self.coord.on_disk_full(exc, id(up))
        await asyncio.sleep(DISK_RETRY_S)

    async def end(self, conn, msg: dict) -> None:
        """An ``end``: the upload checked and made durable, then handed on."""
        up = conn.uploads.get(msg["tid"])
        while True:
            try:
                await uploads.finish(up, msg["tid"])
                break
            except OSError as exc:
                if not is_disk_full(exc):
                    up.refused = f"cannot write it: {exc.strerror or exc}"
                    break
                await self._wait_for_space(up, exc)
        self.coord.on_disk_full(None, id(up))
        conn.uploads.pop(up.tid, None)
        if up.refused is None and not _is_npz(up):
            up.refused = "invalid result: its data is not an .npz archive"
        await self._result_in(conn, up)

    async def _result_in(self, conn, up) -> None:
        """A complete upload: to the scheduler, or (refused) failed or dropped."""
        now = time.monotonic()
        if up.refused is None:
            return await self.coord.handle(S.ResultIn(conn.wid, up.tid, up.real_s, now, up))
        await uploads.discard(up)
        if up.refused == "not leased":
            log.warning("worker %s sent a result of %s, which it does not hold: dropped",
                        conn.name, up.tid)
            return await self.coord.handle(S.ResultIn(conn.wid, up.tid, up.real_s, now))
        log.warning("task %s: %s from %s", up.tid, up.refused, conn.name)
        kind = "invalid" if up.refused.startswith("invalid") else "fault"
        await self.coord.handle(S.Failure(conn.wid, up.tid, up.refused, kind, now))


def _is_npz(up) -> bool:
    """Whether a complete upload's data ends like the .npz a slot writes (or has none)."""
    from neunet.store.npz import ends_like_npz  # here: the coordinator starts before numpy
    if up.buf is not None:
        return ends_like_npz(up.buf)
    return up.tmp is None or ends_like_npz(up.tmp)
