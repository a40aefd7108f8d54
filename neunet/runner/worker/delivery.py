"""A finished result's way from the worker to the coordinator: frames from memory or a spool file.

A small result kept in memory goes out as ``result`` + one ``chunk`` + ``end`` frames queued
with the worker's other frames (one write); a larger one is streamed in ``chunk`` frames of at
most `chunk_bytes`, from memory or from its spool file mapped into memory (the socket sends
straight from the page cache), waiting for the socket to drain between chunks so memory stays
bounded. The coordinator's own local worker spools into a directory the coordinator shares:
its spool files are announced by name (``result`` with ``spooled``, then ``end``) and moved.
"""
from __future__ import annotations

import mmap
import os


def in_spool_file(reply: dict) -> bool:
    """Whether a ``done`` reply's data is in its spool file (not in the reply, not empty)."""
    return bool(reply.get("size")) and not reply.get("data")


def spool_file_ok(reply: dict, spool_dir: str) -> bool:
    """Whether a ``done`` reply's data is at hand: in the reply, none, or its spool file."""
    return not in_spool_file(reply) or os.path.exists(
        os.path.join(spool_dir, f"{reply['tid']}.npz"))


async def stream_result(out, reply: dict, spool_dir: str, chunk_bytes: int,
                        spooled: bool = False) -> None:
    """Send one ``done`` reply of a slot to the coordinator as result frames.

    Parameters
    ----------
    out : neunet.runner.wire.batching.BatchedWriter
        The connection to the coordinator: a small result is queued with the frames of this
        loop pass; a larger one goes after them, streamed.
    reply : dict
        The slot's ``done`` reply (its .npz bytes in ``data``, or in ``<spool_dir>/<tid>.npz``).
    spool_dir : str
        Where the slot wrote results too large to travel in its reply.
    chunk_bytes : int
        Largest chunk of data per frame.
    spooled : bool
        The coordinator shares `spool_dir` (its local worker): a spool file is announced by
        name and moved by the coordinator, not sent.
    """
    tid = reply["tid"]
    result = {"t": "result", "tid": tid, "summary": reply["summary"],
              "real_s": reply["real_s"], "size": reply["size"]}
    if isinstance(reply.get("hash"), str):
        result["hash"] = reply["hash"]
    if spooled and in_spool_file(reply):  # the coordinator moves the file
        result["spooled"] = True
        out.send(result)
        out.send({"t": "end", "tid": tid})
        return
    if reply.get("data") and len(reply["data"]) <= chunk_bytes:  # kept in memory
        out.send(result)
        out.send_chunk(tid, reply["data"])
        out.send({"t": "end", "tid": tid})
        return
    out.write_now(result)  # after what was queued
    path = os.path.join(spool_dir, f"{tid}.npz")
    if reply.get("data"):
        for start in range(0, len(reply["data"]), chunk_bytes):
            out.write_chunk_now(tid, memoryview(reply["data"])[start:start + chunk_bytes])
    elif 0 < reply["size"] <= chunk_bytes:  # small: one read, no thread hop
        with open(path, "rb") as fh:
            out.write_chunk_now(tid, fh.read())
    elif reply["size"]:  # a just-written spool file, mapped: sent from the page cache
        await _stream_file(out, tid, path, chunk_bytes)
    out.write_now({"t": "end", "tid": tid})


async def _stream_file(out, tid: str, path: str, chunk_bytes: int) -> None:
    """Send a spool file in chunks, waiting for the socket between them (bounded memory)."""
    out.writer.transport.set_write_buffer_limits(high=2 * chunk_bytes)
    view = _mapped(path)
    if view is not None:
        for start in range(0, len(view), chunk_bytes):
            out.write_chunk_now(tid, view[start:start + chunk_bytes])
            await out.writer.drain()
        del view  # unmapped when the transport lets go of its last slice
        return
    with open(path, "rb", buffering=0) as fh:
        while data := fh.read(chunk_bytes):
            out.write_chunk_now(tid, data)
            await out.writer.drain()


def _mapped(path: str) -> memoryview | None:
    """A read-only memory map of a spool file (no copy into this process: the socket sends
    straight from the page cache), or None where it cannot be mapped."""
    try:
        with open(path, "rb") as fh:
            return memoryview(mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ))
    except (OSError, ValueError):
        return None
