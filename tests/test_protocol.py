"""Framing and message coding of the sweep runner (neunet.runner.wire.frames)."""
import asyncio
import socket

import msgpack
import numpy as np
import pytest

from neunet.runner.wire import frames as P
from neunet.runner.wire import streams as A


def _reader_with(data: bytes) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    return reader


def _read(data: bytes, **kw):
    async def run():
        return await A.read_message(_reader_with(data), **kw)
    return asyncio.run(run())


def test_round_trip_with_arrays_of_several_dtypes():
    arrays = {"volt": np.random.default_rng(1).normal(size=(3, 7)),
              "ras": np.zeros((0, 2)), "i": np.arange(5, dtype=np.int32),
              "b": np.array([True, False]), "f": np.asfortranarray(np.ones((2, 3)))}
    msg = {"t": "result", "tid": "abc", "summary": {"x": 1.5, "arr": arrays}, "real_s": 0.1,
           "size": 0}
    back = _read(P.pack(msg))
    for k, a in arrays.items():
        got = back["summary"]["arr"][k]
        assert got.dtype == a.dtype and got.shape == a.shape and np.array_equal(got, a)


def test_two_frames_split_at_every_byte_are_read_whole():
    # the seed's bug: a message arriving in pieces must never be read broken
    frames = P.pack({"t": "ack", "tid": "a" * 64}) + P.pack({"t": "request", "n": 3})

    async def run():
        reader = asyncio.StreamReader()
        for i in range(len(frames)):
            reader.feed_data(frames[i:i + 1])
        reader.feed_eof()
        return [await A.read_message(reader) for _ in range(3)]

    a, b, end = asyncio.run(run())
    assert a == {"t": "ack", "tid": "a" * 64} and b == {"t": "request", "n": 3}
    assert end is None


def test_large_frame_over_a_real_socket_pair():
    data = np.random.default_rng(0).bytes(5_000_000)

    async def run():
        a, b = socket.socketpair()
        r1, w1 = await asyncio.open_connection(sock=a)
        r2, w2 = await asyncio.open_connection(sock=b)
        A.send_message(w1, {"t": "chunk", "tid": "x", "data": data})
        send = asyncio.ensure_future(w1.drain())
        got = await A.read_message(r2)
        await send
        w1.close()
        w2.close()
        return got

    assert asyncio.run(run())["data"] == data


def test_oversize_frame_is_refused_before_reading_the_body():
    frame = P.HEADER.pack(10_000) + b"x" * 10
    with pytest.raises(P.ProtocolError, match="exceeds the limit of 1000"):
        _read(frame, max_bytes=1000)


@pytest.mark.parametrize("data, reason", [
    (P.pack({"t": "ack", "tid": "x"})[:-2], "truncated frame"),
    (b"\x00\x00", "inside a frame header"),
    (P.HEADER.pack(3) + b"\xc1\xc1\xc1", "not valid msgpack"),
    (P.HEADER.pack(1) + msgpack.packb(7), "not a map"),
])
def test_truncated_or_garbage_frames_raise_protocol_error(data, reason):
    with pytest.raises(P.ProtocolError, match=reason):
        _read(data)


@pytest.mark.parametrize("msg, reason", [
    ({"t": "nope"}, "unknown message type"),
    ({"n": 1}, "unknown message type"),
    ({"t": "request"}, "field 'n'"),
    ({"t": "request", "n": "3"}, "field 'n'"),
    ({"t": "request", "n": True}, "field 'n'"),
])
def test_messages_missing_fields_or_of_unknown_type_are_refused(msg, reason):
    body = msgpack.packb(msg)
    with pytest.raises(P.ProtocolError, match=reason):
        _read(P.HEADER.pack(len(body)) + body)


def test_object_arrays_and_unknown_objects_cannot_be_sent_or_received():
    with pytest.raises(TypeError):
        P.pack({"t": "ack", "tid": "x", "a": np.array([object()])})
    with pytest.raises(TypeError):
        P.pack({"t": "ack", "tid": "x", "a": object()})
    head = msgpack.packb(["|O", [1]])
    ext = msgpack.ExtType(P.EXT_NDARRAY, P.HEADER.pack(len(head)) + head + b"\0" * 8)
    body = msgpack.packb({"t": "ack", "tid": "x", "a": ext})
    with pytest.raises(P.ProtocolError, match="bad array"):
        _read(P.HEADER.pack(len(body)) + body)
    ext = msgpack.ExtType(7, b"")
    body = msgpack.packb({"t": "ack", "tid": "x", "a": ext})
    with pytest.raises(P.ProtocolError, match="unknown extension"):
        _read(P.HEADER.pack(len(body)) + body)


def test_array_whose_bytes_do_not_match_its_shape_is_refused():
    head = msgpack.packb(["<f8", [4]])
    ext = msgpack.ExtType(P.EXT_NDARRAY, P.HEADER.pack(len(head)) + head + b"\0" * 8)
    body = msgpack.packb({"t": "ack", "tid": "x", "a": ext})
    with pytest.raises(P.ProtocolError, match="bad array"):
        _read(P.HEADER.pack(len(body)) + body)


def test_raw_chunk_frames_carry_data_without_encoding_it():
    data = bytes(range(256)) * 1000
    frame = b"".join(P.pack_chunk("t1", data))
    msg = _read(frame)
    assert msg["t"] == "chunk" and msg["tid"] == "t1" and bytes(msg["data"]) == data
    body = frame[P.HEADER.size:]
    for bad, reason in [(body[:3], "too short"),
                        (body[:1] + P.RAW_HEAD.pack(10 ** 6) + body[5:], "overruns"),
                        (body[:1] + P.RAW_HEAD.pack(1) + b"\xc1", "not valid msgpack"),
                        (body[:1] + P.RAW_HEAD.pack(1) + b"\x01", "not a chunk")]:
        with pytest.raises(P.ProtocolError, match=reason):
            _read(P.HEADER.pack(len(bad)) + bad)


def test_optional_fields_are_type_checked_when_present():
    msg = {"t": "result", "tid": "a", "summary": {}, "real_s": 0.1, "size": 0}
    assert _read(P.pack(dict(msg, hash="ab" * 32)))["hash"] == "ab" * 32
    assert "hash" not in _read(P.pack(msg))
    with pytest.raises(P.ProtocolError, match="field 'hash' of wrong type"):
        _read(P.pack(dict(msg, hash=5)))


# ------------------------------------------------------------------ FrameReader (the server side)
def test_pipe_frames_count_what_waits_and_read_in_order():
    import os
    r, w = os.pipe()
    try:
        frames = P.PipeFrames(r)
        assert frames.waiting() == 0
        first, second = P.pack({"t": "ready"}), P.pack({"t": "ack", "tid": "x" * 64})
        os.write(w, first + second[:7])  # one whole frame and the start of the next
        assert frames.waiting() == 1
        os.write(w, second[7:])
        assert frames.waiting() == 2
        assert frames.next() == {"t": "ready"} and frames.waiting() == 1
        assert frames.next() == {"t": "ack", "tid": "x" * 64} and frames.waiting() == 0
        os.write(w, first[:3])
        os.close(w)
        w = None
        with pytest.raises(P.ProtocolError, match="ended inside a frame"):
            frames.next()
    finally:
        os.close(r)
        if w is not None:
            os.close(w)
    r, w = os.pipe()
    os.write(w, P.HEADER.pack(P.MAX_FRAME_BYTES + 1))
    with pytest.raises(P.ProtocolError, match="limit"):
        P.PipeFrames(r).waiting()  # refused from its header, before anything is allocated
    os.close(w)
    os.close(r)


@pytest.mark.parametrize("bad", ["", "a" * 65, "a\0b", ".hidden", "../x", "a/b", ["a"],
                                 "t\u00e9"])
def test_a_task_id_that_could_name_no_file_or_is_too_long_is_refused(bad):
    with pytest.raises(P.ProtocolError, match="task id|wrong type"):
        P.unpack(msgpack.packb({"t": "ack", "tid": bad}))
    with pytest.raises(P.ProtocolError, match="task id"):
        P.unpack(msgpack.packb({"t": "released", "tids": ["ok", bad]}))
    assert P.valid_tid("0123456789abcdef") and P.valid_tid("t0000.x_y-z")


def test_a_string_where_a_number_belongs_is_refused():
    with pytest.raises(P.ProtocolError, match="'left_s' of wrong type"):
        P.unpack(msgpack.packb({"t": "request", "n": 2, "left_s": "1e9"}))
