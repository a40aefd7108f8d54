"""Tests of neunet.runner.wire.session: sealed frames, sequence numbers, tampering detected."""
import os

import msgpack
import pytest

from neunet.runner.wire.frames import HEADER, ProtocolError, chunk_head, unpack
from neunet.runner.wire.session import TAG_BYTES, Session, unverified_payload

K1, K2 = os.urandom(32), os.urandom(32)


def _pair():
    return Session(K1, K2), Session(K2, K1)  # (worker, coordinator)


def _body(frame: bytes) -> bytes:
    (n,) = HEADER.unpack_from(frame)
    assert len(frame) == HEADER.size + n
    return frame[HEADER.size:]


def test_frames_open_in_order_and_only_in_order():
    worker, coord = _pair()
    frames = [worker.seal(msgpack.packb({"t": "request", "n": i})) for i in range(3)]
    assert bytes(coord.open(_body(frames[0]))) == msgpack.packb({"t": "request", "n": 0})
    with pytest.raises(ProtocolError, match="frame 1 failed authentication"):
        coord.open(_body(frames[2]))  # reordered (or frame 1 dropped)
    worker, coord = _pair()
    frames = [worker.seal(b"\x80") for _ in range(2)]
    coord.open(_body(frames[0]))
    with pytest.raises(ProtocolError):
        coord.open(_body(frames[0]))  # replayed


def test_a_frame_is_bound_to_its_direction_and_its_bytes():
    worker, coord = _pair()
    frame = coord.seal(msgpack.packb({"t": "ack", "tid": "a"}))
    with pytest.raises(ProtocolError):
        Session(K2, K1).open(_body(frame))  # reflected back to its sender's direction
    body = bytearray(_body(frame))
    body[-1] ^= 1
    with pytest.raises(ProtocolError):
        worker.open(bytes(body))
    assert worker.recv_seq == 0  # a failed frame does not advance the count
    for junk in (b"x" * TAG_BYTES, b"\x03" + b"x" * 40, msgpack.packb({"t": "ack", "tid": "a"})):
        with pytest.raises(ProtocolError):
            worker.open(junk)  # too short, or not sealed at all
    assert bytes(Session(K1, K2).open(_body(frame))) == msgpack.packb({"t": "ack", "tid": "a"})


def test_every_byte_of_a_chunk_is_authenticated_where_it_lies():
    worker, coord = _pair()
    head = chunk_head("t1")
    prefix, data = worker.seal_chunk(head, memoryview(b"x" * 100_000))
    payload = coord.open((prefix + bytes(data))[HEADER.size:])
    assert unpack(payload) == {"t": "chunk", "tid": "t1", "data": memoryview(b"x" * 100_000)}
    for forge in (lambda b: b[:-1] + b"y",            # one byte of data
                  lambda b: b[:-1],                    # a byte short
                  lambda b: b.replace(b"t1", b"t2")):  # the head
        worker, coord = _pair()
        prefix, data = worker.seal_chunk(head, b"x" * 1000)
        with pytest.raises(ProtocolError, match="failed authentication"):
            coord.open(forge(prefix + data)[HEADER.size:])
    worker, coord = _pair()
    worker.seal(b"\x80")  # a frame that never arrived: the next one is refused
    prefix, data = worker.seal_chunk(head, b"x" * 10)
    with pytest.raises(ProtocolError):
        coord.open((prefix + data)[HEADER.size:])


def test_the_hello_can_be_read_before_its_tag_is_checked():
    worker, coord = _pair()
    body = _body(worker.seal(msgpack.packb({"t": "hello"})))
    assert bytes(unverified_payload(body)) == msgpack.packb({"t": "hello"})
    assert bytes(coord.open(body)) == msgpack.packb({"t": "hello"})
    with pytest.raises(ProtocolError, match="not a sealed hello"):
        unverified_payload(msgpack.packb({"t": "hello"}))
