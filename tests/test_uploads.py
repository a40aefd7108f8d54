"""neunet.runner.coordinator.uploads: a result arriving at the coordinator, on real files."""
import asyncio
import os

import pytest

from neunet.runner.coordinator import uploads
from neunet.runner.wire import frames


def _result(tid, size, **extra):
    return dict({"t": "result", "tid": tid, "summary": {"r": 1.0}, "real_s": 0.5,
                 "size": size}, **extra)


def _run(coro):
    return asyncio.run(coro)


def test_small_result_is_collected_in_memory(tmp_path):
    async def go():
        up = uploads.begin(_result("a", 6, hash="ab" * 32), str(tmp_path), None)
        uploads.add_chunk(up, {"tid": "a", "data": b"abc"})
        uploads.add_chunk(up, {"tid": "a", "data": memoryview(b"def")})
        await uploads.finish(up, "a")
        return up
    up = _run(go())
    assert bytes(up.buf) == b"abcdef" and up.tmp is None and up.digest == "ab" * 32
    assert os.listdir(tmp_path) == []


def test_large_result_goes_to_a_temp_file_that_is_durable_at_its_end(tmp_path):
    data = os.urandom(uploads.IN_MEMORY_MAX_BYTES + 3 * uploads.SYNC_EVERY_BYTES // 2)

    async def go():
        up = uploads.begin(_result("b", len(data)), str(tmp_path), None)
        step = 1 << 20
        for i in range(0, len(data), step):
            uploads.add_chunk(up, {"tid": "b", "data": data[i:i + step]})
        assert up.sync is not None  # flushed in the background on the way
        await uploads.finish(up, "b")
        return up
    up = _run(go())
    assert up.fd is None and open(up.tmp, "rb").read() == data
    assert os.path.basename(up.tmp).startswith(".b.") and up.tmp.endswith(".part")


def test_incomplete_oversized_and_unknown_uploads_are_protocol_errors(tmp_path):
    async def go():
        up = uploads.begin(_result("c", 2 * uploads.IN_MEMORY_MAX_BYTES), str(tmp_path), None)
        uploads.add_chunk(up, {"tid": "c", "data": b"x" * 10})
        with pytest.raises(frames.ProtocolError, match="incomplete result for 'c'"):
            await uploads.finish(up, "c")
        assert os.listdir(tmp_path) == []  # its temp file removed
        small = uploads.begin(_result("d", 4), str(tmp_path), None)
        with pytest.raises(frames.ProtocolError, match="unexpected data chunk"):
            uploads.add_chunk(small, {"tid": "d", "data": b"12345"})
        with pytest.raises(frames.ProtocolError, match="unexpected data chunk"):
            uploads.add_chunk(None, {"tid": "e", "data": b"1"})
        with pytest.raises(frames.ProtocolError, match="incomplete result for 'e'"):
            await uploads.finish(None, "e")
    _run(go())


def test_a_refused_result_drops_its_data_and_nothing_is_reserved(tmp_path):
    async def go():
        up = uploads.begin(_result("g", 10 ** 12), str(tmp_path), None, refused="not leased")
        uploads.add_chunk(up, {"tid": "g", "data": b"z" * 1000})
        assert up.fd is None and up.buf is None and os.listdir(tmp_path) == []
        big = uploads.begin(_result("h", 10 ** 12), str(tmp_path), None)  # announced: 1 TB
        assert os.path.getsize(big.tmp) == 0  # no space taken on its word
        await uploads.discard(big)
    _run(go())


def test_a_spooled_result_is_moved_from_the_local_spool(tmp_path):
    spool, data_dir = tmp_path / "spool", tmp_path / "data"
    spool.mkdir()
    data_dir.mkdir()
    (spool / "f.npz").write_bytes(b"z" * 5000)

    async def go():
        with pytest.raises(frames.ProtocolError, match="does not share"):
            uploads.begin(_result("f", 5000, spooled=True), str(data_dir), None)
        up = uploads.begin(_result("f", 5000, spooled=True), str(data_dir), str(spool))
        with pytest.raises(frames.ProtocolError, match="unexpected data chunk"):
            uploads.add_chunk(up, {"tid": "f", "data": b"z"})  # nothing travels
        await uploads.finish(up, "f")
        return up
    up = _run(go())
    assert not (spool / "f.npz").exists() and open(up.tmp, "rb").read() == b"z" * 5000
    (spool / "g.npz").write_bytes(b"short")

    async def wrong():
        up = uploads.begin(_result("g", 99, spooled=True), str(data_dir), str(spool))
        with pytest.raises(frames.ProtocolError, match="has 5 bytes, not 99"):
            await uploads.finish(up, "g")
        gone = uploads.begin(_result("h", 9, spooled=True), str(data_dir), str(spool))
        with pytest.raises(frames.ProtocolError, match="spooled result 'h'"):
            await uploads.finish(gone, "h")
    _run(wrong())
    assert (spool / "g.npz").exists()  # a refused one is left where it was
