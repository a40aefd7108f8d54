"""neunet.runner.worker.delivery: a finished result's frames, from memory or a spool file,
over a real socket."""
import asyncio
import os
import socket

from neunet.runner.wire import auth, streams
from neunet.runner.wire.batching import BatchedWriter
from neunet.runner.worker import delivery


def _send_and_read(reply, spool_dir, chunk_bytes, sealed=False):
    """Stream `reply` over a real socket pair (its frames sealed, as between a worker and its
    coordinator, if `sealed`); return (frames queued, messages received)."""
    async def go():
        a, b = socket.socketpair()
        _, writer = await asyncio.open_connection(sock=a)
        reader, _ = await asyncio.open_connection(sock=b)
        nonces = auth.new_nonce(), auth.new_nonce()
        mine = auth.worker_session(b"t", *nonces) if sealed else None
        theirs = auth.coordinator_session(b"t", *nonces) if sealed else None
        out = BatchedWriter(writer, session=mine)
        out.send({"t": "request", "n": 1})  # queued before: goes first
        before = out.n_queued
        await delivery.stream_result(out, reply, str(spool_dir), chunk_bytes)
        n_queued = out.n_queued - (before if out.n_queued else 0)
        await out.drain()
        writer.close()
        msgs = []
        while (msg := await streams.read_message(reader, session=theirs)) is not None:
            msgs.append(msg)
        assert msgs.pop(0) == {"t": "request", "n": 1}
        return n_queued, msgs
    return asyncio.run(go())


def _reply(tid, size, data=None, digest=None):
    reply = {"t": "done", "tid": tid, "summary": {"rate": 1.5}, "real_s": 0.25, "size": size}
    if data is not None:
        reply["data"] = data
    if digest:
        reply["hash"] = digest
    return reply


def test_small_result_in_memory_is_queued_with_the_other_frames(tmp_path):
    data = os.urandom(1000)
    n_queued, msgs = _send_and_read(_reply("a", len(data), data, "ab" * 32), tmp_path, 4096)
    assert n_queued == 3  # result, chunk, end: one write with everything else
    assert [m["t"] for m in msgs] == ["result", "chunk", "end"]
    assert msgs[0]["hash"] == "ab" * 32 and msgs[0]["summary"] == {"rate": 1.5}
    assert bytes(msgs[1]["data"]) == data


def test_spool_file_and_large_memory_results_are_streamed_in_chunks(tmp_path):
    big = os.urandom(50_000)
    (tmp_path / "f.npz").write_bytes(big)
    for reply in (_reply("f", len(big)), _reply("m", len(big), big)):
        n_queued, msgs = _send_and_read(reply, tmp_path, 4096)
        assert n_queued == 0  # written straight to the socket, after what was queued
        kinds = [m["t"] for m in msgs]
        assert kinds[0] == "result" and kinds[-1] == "end" and kinds.count("chunk") == 13
        assert all(len(m["data"]) <= 4096 for m in msgs[1:-1])
        assert b"".join(bytes(m["data"]) for m in msgs[1:-1]) == big
        assert "hash" not in msgs[0]


def test_small_spool_file_is_read_in_one_piece(tmp_path):
    (tmp_path / "s.npz").write_bytes(b"x" * 100)
    _, msgs = _send_and_read(_reply("s", 100), tmp_path, 4096)
    assert [m["t"] for m in msgs] == ["result", "chunk", "end"]
    assert bytes(msgs[1]["data"]) == b"x" * 100


def test_a_local_workers_spool_file_is_announced_by_name_not_sent(tmp_path):
    (tmp_path / "f.npz").write_bytes(b"y" * 50_000)
    reply = _reply("f", 50_000)

    async def go():
        a, b = socket.socketpair()
        _, writer = await asyncio.open_connection(sock=a)
        reader, _ = await asyncio.open_connection(sock=b)
        out = BatchedWriter(writer)
        await delivery.stream_result(out, reply, str(tmp_path), 4096, spooled=True)
        n_queued = out.n_queued
        await out.drain()
        writer.close()
        msgs = []
        while (msg := await streams.read_message(reader)) is not None:
            msgs.append(msg)
        return n_queued, msgs
    n_queued, msgs = asyncio.run(go())
    assert n_queued == 2  # queued with the loop pass's other frames
    assert [m["t"] for m in msgs] == ["result", "end"] and msgs[0]["spooled"] is True
    assert (tmp_path / "f.npz").exists()  # the coordinator moves it


def test_spool_file_ok_tells_a_vanished_spool_file(tmp_path):
    assert delivery.spool_file_ok(_reply("a", 10, b"x" * 10), str(tmp_path))  # in memory
    assert delivery.spool_file_ok(_reply("n", 0), str(tmp_path))              # no data
    assert not delivery.spool_file_ok(_reply("f", 10), str(tmp_path))         # file gone
    (tmp_path / "f.npz").write_bytes(b"x" * 10)
    assert delivery.spool_file_ok(_reply("f", 10), str(tmp_path))


def test_sealed_frames_of_every_kind_open_in_order_on_the_other_side(tmp_path):
    big = os.urandom(50_000)
    (tmp_path / "f.npz").write_bytes(big)
    for reply in (_reply("f", len(big), digest="ab" * 32), _reply("m", 1000, big[:1000])):
        _, msgs = _send_and_read(reply, tmp_path, 4096, sealed=True)
        assert msgs[0]["t"] == "result" and msgs[0].get("hash") == reply.get("hash")
        assert b"".join(bytes(m["data"]) for m in msgs[1:-1]) == big[:reply["size"]]
