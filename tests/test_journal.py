"""The coordinator's store writer (neunet.runner.coordinator.store_writer) on a real run dir."""
import asyncio

import numpy as np

import neunet
from neunet.runner.coordinator.store_writer import JournalWriter
from neunet.store import RunStore
from neunet.store.npz import encode_arrays
from neunet.store.schema import INDEX_BLOB_MAX_BYTES, INLINE_DATA_FILE


def _tasks(n):
    pm = neunet.parameters()
    pm.update(nE=1, nI=0, t=10)
    return [{"tid": f"t{i}", "pm": dict(pm, pr=0.5 + i * 1e-3), "est_cost": 1.0, "est_s": 0.1}
            for i in range(n)]


def _run(store, body):
    async def go():
        journal = JournalWriter(store)
        try:
            await body(journal)
        finally:
            await journal.close()
    asyncio.run(go())


def test_a_batch_of_results_lands_whole_small_ones_inside_the_index(tmp_path):
    store = RunStore(tmp_path / "run")
    store.sync_tasks(_tasks(7))
    big = tmp_path / "big.part"  # a large result: already written and fsynced by the caller
    big_bytes = encode_arrays({"volt": np.ones(5000)})
    big.write_bytes(big_bytes)
    small = [encode_arrays({"volt": np.full(10 + i, float(i))}) for i in range(5)]
    medium = encode_arrays({"volt": np.arange(INDEX_BLOB_MAX_BYTES // 8 + 1, dtype=float)})

    async def body(journal):
        futs = [journal.record(f"t{i}", {"x": float(i)}, 0.1, "w", None, small[i])
                for i in range(5)]  # queued together: one batch, one sync
        futs.append(journal.record("t5", {}, 0.1, "w", str(big)))
        futs.append(journal.record("t6", {}, 0.1, "w", None, medium))  # in memory, too big
        await asyncio.gather(*futs)

    _run(store, body)
    assert store.finished() == {f"t{i}" for i in range(7)}
    run = neunet.open_run(tmp_path / "run")
    df = run.table().set_index("tid")
    for i in range(5):  # small: inside the index, no file of their own
        assert df.loc[f"t{i}", "data_file"] == INLINE_DATA_FILE
        assert not store.data_path(f"t{i}").exists()
        assert np.array_equal(run.load(f"t{i}").volt, np.full(10 + i, float(i)))
    assert store.data_path("t5").read_bytes() == big_bytes and not big.exists()
    assert store.data_path("t6").read_bytes() == medium
    assert df.loc["t6", "data_file"] == "data/t6.npz"
    assert not [p for p in (tmp_path / "run").rglob("*.part")]
    store.close()


def test_a_result_that_cannot_be_written_fails_alone_never_its_batch(tmp_path):
    """Two results in one batch, one of them impossible to store (its file is gone, or its
    summary will not go into SQLite): the other is stored and acknowledged all the same."""
    store = RunStore(tmp_path / "run")
    store.sync_tasks(_tasks(4))

    async def body(journal):
        ok = journal.record("t0", {}, 0.1, "w", None, encode_arrays({"v": np.ones(3)}))
        missing = journal.record("t1", {}, 0.1, "w", str(tmp_path / "gone.part"))
        ok2 = journal.record("t2", {"rate": 2.0}, 0.1, "w", None, None)
        bad = journal.record("t3", {"rate": "text"}, 0.1, "w", None, None)
        results = await asyncio.gather(ok, missing, ok2, bad, return_exceptions=True)
        assert results[0] is None and results[2] is None
        assert isinstance(results[1], OSError) and isinstance(results[3], ValueError)
        assert not journal.errors  # the states and the other results were written

    _run(store, body)
    assert store.finished() == {"t0", "t2"}
    store.close()


def test_states_queued_together_are_written_as_their_sum_with_the_results(tmp_path):
    store = RunStore(tmp_path / "run")
    store.sync_tasks(_tasks(3))

    async def body(journal):
        journal.status("t0", "assigned", {"worker": "w"})  # one batch: merged per task
        journal.status("t0", "simulating", {"started": 5.0})
        journal.status("t1", "simulating", {"worker": "v", "started": 7.0})
        journal.status("t1", "filtering", {})
        journal.status("t1", "pulling", {"worker": "u"})
        await journal.record("t1", {"x": 1.0}, 0.1, "u", None,
                             encode_arrays({"volt": np.ones(3)}), digest="ab" * 32)
        journal.status("t2", "assigned", {"worker": "w", "attempts": 1})
        journal.status("t2", "not-assigned", {"worker": None})

    _run(store, body)
    df = neunet.open_run(tmp_path / "run").table().set_index("tid")
    assert df.loc["t0", "status"] == "simulating" and df.loc["t0", "worker"] == "w"
    assert df.loc["t0", "started"] == 5.0
    assert df.loc["t1", "status"] == "finished" and df.loc["t1", "started"] == 7.0
    assert df.loc["t1", "result_hash"] == "ab" * 32  # its bytes end like an .npz: trusted
    assert df.loc["t2", "status"] == "not-assigned" and df.loc["t2", "attempts"] == 1
    assert not isinstance(df.loc["t2", "worker"], str)  # NULL


def test_a_result_is_finished_when_it_arrived_not_when_its_batch_is_written(tmp_path):
    import time
    store = RunStore(tmp_path / "run")
    store.sync_tasks(_tasks(1))
    seen = {}

    async def body(journal):
        seen["before"] = time.time()
        fut = journal.record("t0", {"x": 1.0}, 0.1, "w", None, encode_arrays({"v": np.ones(2)}))
        seen["after"] = time.time()
        await fut

    _run(store, body)
    finished = neunet.open_run(tmp_path / "run").table().set_index("tid").loc["t0", "finished"]
    assert seen["before"] <= finished <= seen["after"]
