"""The worker and its warm slot processes, as real processes (neunet.worker, slot_process)."""
import io
import subprocess
import time

import numpy as np
import pytest
from dist_helpers import (
    PY,
    coordinator,
    env,
    free_port,
    rows,
    short_tasks,
    stop,
    tagged_env,
    tagged_pids,
    wait_until,
    warm_numba_cache,
    worker,
    write_tasks,
)

import neunet
from neunet.params import plain
from neunet.runner.wire import frames
from neunet.runner.worker import slot_process as slot
from neunet.store.digest import result_hash, result_hash_of_file
from neunet.store.npz import decode_arrays
from neunet.store.schema import stored_summary


@pytest.fixture(autouse=True, scope="module")
def _warm_cache():
    warm_numba_cache()


def _pm(**kw):
    pm = neunet.parameters()
    pm.update(nE=1, nI=0, t=20, **kw)
    return pm


def _send(proc, msg):
    proc.stdin.write(frames.pack(msg))
    proc.stdin.flush()


def _run_in_slot(proc, replies, tid, pm, out):
    """The slot's reply; a ``filtering`` state before it only after a long simulation."""
    _send(proc, {"t": "run", "tid": tid, "pm": plain(pm), "out": str(out), "filter": None})
    msg = replies.next()
    if msg["t"] == "state":
        assert msg == {"t": "state", "tid": tid, "state": "filtering"}
        reply = replies.next()
        assert reply["real_s"] >= slot.REPORT_FILTERING_S
        return reply
    assert msg["real_s"] < 10 * slot.REPORT_FILTERING_S  # a short one: no state
    return msg


def test_slot_process_answers_done_with_data_inline_or_in_a_file_or_error(tmp_path):
    (tmp_path / "bad.txt").write_text("garbage\n")
    proc = subprocess.Popen([PY, "-m", "neunet.runner.worker.slot_process"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, env=env())
    try:
        replies = frames.PipeFrames(proc.stdout.fileno())
        assert replies.next() == {"t": "ready"}
        pm = _pm()  # small: the .npz bytes come inside the reply, no file
        done = _run_in_slot(proc, replies, "a", pm, tmp_path)
        assert done["t"] == "done" and done["size"] == len(done["data"]) > 0
        assert not (tmp_path / "a.npz").exists()
        np.testing.assert_array_equal(decode_arrays(done["data"])["volt"],
                                      neunet.simulate(pm).volt)
        assert "n_spikes" in done["summary"]
        # the hash the run directory stores, computed where the arrays are in memory
        assert done["hash"] == result_hash(stored_summary(done["summary"]),
                                           decode_arrays(done["data"]))
        big = dict(_pm(), t=5000)  # > 1 MiB of voltage: written as a file
        done = _run_in_slot(proc, replies, "c", big, tmp_path)
        assert "data" not in done and done["size"] == (tmp_path / "c.npz").stat().st_size
        assert done["size"] > 1024 * 1024
        assert done["hash"] == result_hash_of_file(stored_summary(done["summary"]),
                                                   tmp_path / "c.npz")
        np.testing.assert_array_equal(decode_arrays((tmp_path / "c.npz").read_bytes())["volt"],
                                      neunet.simulate(big).volt)
        bad = plain(_pm(net=str(tmp_path / "bad.txt")))
        _send(proc, {"t": "run", "tid": "b", "pm": bad, "out": str(tmp_path)})
        err = replies.next()
        assert err["t"] == "error" and "bad number 'garbage'" in err["error"]
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0  # exits when its input closes
    finally:
        stop(proc)


@pytest.mark.parametrize("args, message", [
    (["--connect", "nohost"], "is not HOST:PORT"),
    (["--connect", "h:99999"], "is not HOST:PORT"),
    (["--slots", "0"], "--slots must be >= 1"),
    (["--token-file", "/nonexistent/tok"], "cannot read token file"),
    (["--what"], "unrecognized arguments"),
    (["--walltime", "abc", "--slots", "2"], "--walltime 'abc'"),  # after its slots started
])
def test_bad_usage_exits_2_with_one_line(args, message):
    tagged, tag = tagged_env()
    r = subprocess.run([PY, "-m", "neunet.worker", *args], env=tagged, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert wait_until(lambda: tagged_pids(tag) == [], 10), "slot processes left behind"


def test_worker_started_before_the_coordinator_connects_when_it_appears(tmp_path):
    port = free_port()
    w = worker(port, 2, "--name", "early", log=tmp_path / "w.log")
    coord = None
    try:
        assert w.poll() is None
        time.sleep(1.5)  # several refused attempts with backoff
        assert w.poll() is None
        tasks_py = write_tasks(tmp_path / "sweep.py", 5)
        coord = coordinator(tasks_py, tmp_path / "run", port, "--local-slots", 0)
        _, err = coord.communicate(timeout=240)
        assert coord.returncode == 0, err.decode()
        assert w.wait(timeout=30) == 0
    finally:
        stop(coord, w)
    assert {r[1] for r in rows(tmp_path / "run")} == {"finished"}
    assert {r[4] for r in rows(tmp_path / "run")} == {"early"}
    assert "not reachable" in (tmp_path / "w.log").read_text()


def test_a_worker_with_a_wrong_or_missing_token_exits_2_saying_what_to_pass(tmp_path):
    (tmp_path / "good").write_text("right")
    (tmp_path / "bad").write_text("wrong")
    port = free_port()
    tasks_py = write_tasks(tmp_path / "sweep.py", 3)
    coord = coordinator(tasks_py, tmp_path / "run", port, "--local-slots", 0, "--token-file",
                        tmp_path / "good", log=tmp_path / "c.log")
    impostor = worker(port, 1, "--token-file", tmp_path / "bad", log=tmp_path / "w.log")
    tokenless = worker(port, 1, log=tmp_path / "n.log")
    good = None
    try:
        assert impostor.wait(timeout=120) == 2 and tokenless.wait(timeout=120) == 2
        assert "refused this worker's token: pass the coordinator's token with --token-file" \
            in (tmp_path / "w.log").read_text()
        assert "this worker has no token and the coordinator requires one: pass" \
            in (tmp_path / "n.log").read_text()
        assert {r[1] for r in rows(tmp_path / "run")} == {"not-assigned"}
        good = worker(port, 1, "--token-file", tmp_path / "good", "--name", "good")
        assert coord.wait(timeout=240) == 0
    finally:
        stop(coord, impostor, tokenless, good)
    assert "wrong token" in (tmp_path / "c.log").read_text()
    assert {r[4] for r in rows(tmp_path / "run")} == {"good"}


def test_capacity_makes_room_for_slot_queues_while_tasks_are_short():
    import asyncio

    from neunet.runner.worker.slots import PIPELINE_DEPTH
    from neunet.runner.worker.worker import Worker

    async def go():
        w = Worker("127.0.0.1", 1, 2, b"", prefetch=1)
        assert w.capacity() == 0  # slots not loaded yet: no tasks
        for s in w.runner.slots:
            s.ready = True
        assert w.capacity() == 3
        await w._on_message({"t": "tasks", "tasks": short_tasks(2)})
        assert w.capacity() == 3 + 2 * PIPELINE_DEPTH
        long_task = dict(short_tasks(1)[0], tid="long", est_s=5.0)
        await w._on_message({"t": "tasks", "tasks": [long_task]})
        assert w.capacity() == 3
    asyncio.run(go())


class _Writes(io.BytesIO):
    """An output that counts its write calls."""
    calls = 0

    def write(self, data):
        self.calls += 1
        return super().write(data)


def _frames(data: bytes) -> list:
    out, at = [], 0
    while at < len(data):
        (n,) = frames.HEADER.unpack_from(data, at)
        at += frames.HEADER.size + n
        out.append(frames.unpack(data[at - n:at]))
    return out


def test_slot_holds_replies_while_tasks_wait_and_writes_them_together(monkeypatch):
    out = _Writes()
    replies = slot.Replies(out)
    done = [{"t": "done", "tid": f"d{i}", "size": 0, "summary": {}, "real_s": 0.001}
            for i in range(5)]
    replies.hold(done[0], waiting=3)
    replies.hold(done[1], waiting=2)
    assert out.getvalue() == b""            # the worker still has tasks queued here
    replies.hold(done[2], waiting=1)        # the last queued one starts: deliver, one write
    assert out.calls == 1 and _frames(out.getvalue()) == done[:3]
    replies.hold(done[3], waiting=4)
    state = {"t": "state", "tid": "d4", "state": "filtering"}
    replies.send(state)                     # written at once, after what was held
    assert _frames(out.getvalue()) == done[:4] + [state]
    monkeypatch.setattr(slot, "HOLD_MAX_S", 0.0)
    replies.hold(done[4], waiting=4)        # never held longer than HOLD_MAX_S
    assert _frames(out.getvalue())[-1] == done[4]
