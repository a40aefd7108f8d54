"""Tests of neunet.runner.wire.session: sealed frames, sequence numbers, tampering detected."""
import os

import msgpack
import pytest

from neunet.runner.wire.frames import HEADER, RAW_HEAD, RAW_MARK, ProtocolError
from neunet.runner.wire.session import TAG_BYTES, Session

K1, K2 = os.urandom(32), os.urandom(32)


def _pair():
    return Session(K1, K2), Session(K2, K1)  # (worker, coordinator)


def _body(frame: bytes) -> bytes:
    (n,) = HEADER.unpack_from(frame)
    assert len(frame) == HEADER.size + n
    return frame[HEADER.size:]


def _chunk_head(tid: str) -> bytes:
    head = msgpack.packb({"t": "chunk", "tid": tid})
    return bytes([RAW_MARK]) + RAW_HEAD.pack(len(head)) + head


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
    with pytest.raises(ProtocolError, match="too short"):
        worker.open(b"x" * TAG_BYTES)
    assert bytes(Session(K1, K2).open(_body(frame))) == msgpack.packb({"t": "ack", "tid": "a"})


def test_a_chunk_is_sealed_over_its_head_and_data_length():
    worker, coord = _pair()
    head = _chunk_head("t1")
    prefix, data = worker.seal_chunk(head, b"x" * 1000)
    body = (prefix + data)[HEADER.size:]
    assert bytes(coord.open(body)) == head + b"x" * 1000
    worker, coord = _pair()
    prefix, data = worker.seal_chunk(head, b"x" * 1000)
    # the data itself is bound by the result's announced SHA-256, not by the tag ...
    assert bytes(Session(K2, K1).open((prefix + b"y" * 1000)[HEADER.size:])).endswith(b"y")
    # ... but its length and its head are
    with pytest.raises(ProtocolError):
        Session(K2, K1).open((prefix + b"x" * 999)[HEADER.size:])
    forged = bytearray((prefix + data)[HEADER.size:])
    forged[TAG_BYTES + len(head) - 1] ^= 1  # the tid
    with pytest.raises(ProtocolError):
        Session(K2, K1).open(bytes(forged))
