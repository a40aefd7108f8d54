"""Frames over asyncio streams (neunet.runner.wire.streams): the coordinator's FrameReader."""
import asyncio

import numpy as np
import pytest

from neunet.runner.wire import frames as P
from neunet.runner.wire import reader as R
from neunet.runner.wire import streams as A


def _serve_frames(payloads, max_bytes=P.MAX_FRAME_BYTES, pieces=None, use_uvloop=False):
    """Send `payloads` (bytes) to a FrameReader server over real loopback TCP, in `pieces`
    byte-sized writes if given; return what next_message gave (messages, then None or the
    exception)."""
    async def run():
        got, done = [], asyncio.get_running_loop().create_future()

        async def on_connect(reader, writer):
            reader.set_limit(max_bytes)
            try:
                while True:
                    msg = await reader.next_message()
                    if msg is None:
                        break
                    if msg["t"] == "chunk":
                        msg["data"] = bytes(msg["data"])  # the view's buffer is the reader's
                    got.append(msg)
                got.append(None)
            except (P.ProtocolError, ConnectionError) as exc:
                got.append(exc)
            writer.close()
            done.set_result(None)

        server = await asyncio.get_running_loop().create_server(
            lambda: A.FrameReader(on_connect), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        _, w = await asyncio.open_connection("127.0.0.1", port)
        data = b"".join(payloads)
        step = pieces or len(data) or 1
        for i in range(0, len(data), step):
            w.write(data[i:i + step])
            await w.drain()
            if pieces:
                await asyncio.sleep(0)
        w.write_eof()
        await asyncio.wait_for(done, 10)
        w.close()
        server.close()
        return got

    if use_uvloop:
        import uvloop
        return uvloop.run(run())
    return asyncio.run(run())


@pytest.mark.parametrize("use_uvloop", [False, True])
def test_frame_reader_gives_small_and_large_frames_whole_in_order(use_uvloop):
    data = np.random.default_rng(2).bytes(3_000_000)  # a large chunk: its own buffer
    small = [P.pack({"t": "request", "n": i}) for i in range(2000)]  # many per read
    frames = small[:1000] + [b"".join(P.pack_chunk("t1", data))] + small[1000:]
    got = _serve_frames(frames, use_uvloop=use_uvloop)
    assert got[-1] is None and len(got) == 2002
    assert [m["n"] for m in got[:1000] + got[1001:2001]] == list(range(2000))
    assert got[1000] == {"t": "chunk", "tid": "t1", "data": data}


def test_frame_reader_reassembles_frames_split_at_any_byte():
    frames = [P.pack({"t": "ack", "tid": "a" * 64}), b"".join(P.pack_chunk("b", b"x" * 70_000)),
              P.pack({"t": "request", "n": 3})]
    got = _serve_frames(frames, pieces=997)
    assert got[0]["tid"] == "a" * 64 and got[1]["data"] == b"x" * 70_000
    assert got[2] == {"t": "request", "n": 3} and got[3] is None


@pytest.mark.parametrize("frames, reason", [
    ([P.pack({"t": "ack", "tid": "x"}), P.HEADER.pack(1 << 30)], "exceeds the limit of 1000"),
    ([P.pack({"t": "ack", "tid": "x"}), P.pack({"t": "ack", "tid": "y"})[:-2]],
     "truncated frame"),
    ([P.pack({"t": "ack", "tid": "x"}), b"".join(P.pack_chunk("c", b"z" * 900_000))[:-9]],
     "truncated frame"),
    ([P.pack({"t": "ack", "tid": "x"}), P.HEADER.pack(3) + b"\xc1\xc1\xc1"], "not valid msgpack"),
])
def test_frame_reader_faults_come_after_the_good_messages(frames, reason):
    got = _serve_frames(frames, max_bytes=1000 if "limit" in reason else P.MAX_FRAME_BYTES)
    assert got[0] == {"t": "ack", "tid": "x"}
    assert isinstance(got[1], P.ProtocolError) and reason in str(got[1]) and len(got) == 2


def test_frame_reader_refuses_an_oversize_frame_before_its_body_arrives():
    async def run():
        result = asyncio.get_running_loop().create_future()

        async def on_connect(reader, writer):
            reader.set_limit(1000)
            try:
                await reader.next_message()
            except P.ProtocolError as exc:
                result.set_result(exc)
            writer.close()

        server = await asyncio.get_running_loop().create_server(
            lambda: A.FrameReader(on_connect), "127.0.0.1", 0)
        _, w = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
        w.write(P.HEADER.pack(50_000_000))  # only the header: the body never comes
        exc = await asyncio.wait_for(result, 5)
        w.close()
        server.close()
        return exc

    assert "exceeds the limit" in str(asyncio.run(run()))


def test_frame_reader_stops_reading_while_its_queue_is_full():
    chunk = b"".join(P.pack_chunk("c", b"q" * (1 << 20)))

    async def run():
        peak, done = [0], asyncio.get_running_loop().create_future()

        async def on_connect(reader, writer):
            reader.set_limit(P.MAX_FRAME_BYTES)
            await asyncio.sleep(0.3)  # a slow consumer: the sender fills the queue meanwhile
            n = 0
            while await reader.next_message() is not None:
                peak[0] = max(peak[0], reader._queued)
                n += 1
            done.set_result(n)

        server = await asyncio.get_running_loop().create_server(
            lambda: A.FrameReader(on_connect), "127.0.0.1", 0)
        _, w = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
        for _ in range(40):
            w.write(chunk)
            await w.drain()
        w.write_eof()
        n = await asyncio.wait_for(done, 10)
        w.close()
        server.close()
        return n, peak[0]

    n, peak = asyncio.run(run())
    assert n == 40 and peak <= R.QUEUE_BYTES + len(chunk)


def _stream_chunks(chunks, keep: bool):
    """Send `chunks` (bytes) as chunk frames to a FrameReader over loopback TCP; the consumer
    keeps every message (`keep`) or lets each go after copying its data. Returns (the data
    copied when each message was taken, the data of the kept messages read at the end, how
    many large frames the reader read into a reused buffer)."""
    async def run():
        seen, kept, done = [], [], asyncio.get_running_loop().create_future()

        async def on_connect(reader, writer):
            reader.set_limit(P.MAX_FRAME_BYTES)
            while (msg := await reader.next_message()) is not None:
                seen.append(bytes(msg["data"]))
                if keep:
                    kept.append(msg)
                del msg
            done.set_result(reader.reused_buffers)

        server = await asyncio.get_running_loop().create_server(
            lambda: A.FrameReader(on_connect), "127.0.0.1", 0)
        _, w = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
        for data in chunks:
            w.writelines(P.pack_chunk("c", data))
            await w.drain()
        w.write_eof()
        reused = await asyncio.wait_for(done, 20)
        w.close()
        server.close()
        return seen, [bytes(m["data"]) for m in kept], reused
    return asyncio.run(run())


def test_frame_reader_reuses_a_large_frame_buffer_only_when_nothing_refers_to_it():
    rng = np.random.default_rng(5)
    chunks = [rng.bytes(P.CHUNK_BYTES) for _ in range(8)]
    seen, kept, reused = _stream_chunks(chunks, keep=True)
    assert seen == chunks and kept == chunks and reused == 0  # every view still alive
    seen, _, reused = _stream_chunks(chunks, keep=False)
    assert seen == chunks and reused > 0  # dropped messages: their buffers serve again
