"""Tests of neunet.store: the run directory written by RunStore and read by open_run."""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import zipfile

import numpy as np
import pytest

from neunet.result import Result
from neunet.store import NoDataError, RunStore, StoreError, open_run
from neunet.store.digest import result_hash
from neunet.store.npz import encode_arrays
from neunet.store.schema import INLINE_DATA_FILE, stored_summary


def _task(i, model="HH-GH", pr=0.1, **extra):
    pm = {"neuron-model": model, "pr": pr, "t": 100.0, "nE": 2, "nI": 0, "net": "-"}
    pm.update(extra)
    return {"tid": f"t{i:04d}", "pm": pm, "est_cost": float(i), "est_s": i / 10}


class FakeTask:
    """Duck-typed like neunet.sweep.tasks.Task: tid, pm, time = [est_cost, est_s, real_s]."""

    def __init__(self, tid, pm, est_cost, est_s):
        self.tid, self.pm, self.time = tid, pm, [est_cost, est_s, None]


def _arrays(n=2, k=50, seed=0):
    rng = np.random.default_rng(seed)
    return {"volt": rng.normal(size=(n, k)),
            "ras": np.array([[1.0, 3.5], [2.0, 7.25]]),
            "isi": np.array([50.0, np.inf])[:n]}


def test_sync_tasks_counts_and_restart(tmp_path):
    store = RunStore(tmp_path / "run")
    tasks = [_task(i) for i in range(5)]
    assert store.sync_tasks(tasks) == (0, 5, 0)
    store.close()
    store = RunStore(tmp_path / "run")  # restart: same tasks plus two, minus one
    again = tasks[1:] + [_task(10), FakeTask("t0011", {"pr": 0.3}, 2.0, 0.5)]
    assert store.sync_tasks(again) == (4, 2, 1)
    assert set(store.unfinished()) == {f"t{i:04d}" for i in (0, 1, 2, 3, 4, 10, 11)}
    assert store.unfinished()[0] == "t0010"  # most expensive first
    assert store.finished() == set()


def test_set_status_record_result_and_table(tmp_path):
    store = RunStore(tmp_path / "run")
    store.sync_tasks([_task(0, pr=0.1), _task(1, model="LIF-GH", pr=0.5)])
    store.set_status("t0000", "simulating", worker="w1", attempts=1, started=100.0)
    path = store.write_data("t0000", _arrays())
    assert path == store.data_path("t0000") and path.is_file()
    store.record_result("t0000", {"mean_rate": 12.5, "cv_isi": 0.8}, real_s=0.25,
                        worker="w1", data_file=path)
    store.set_status("t0001", "failed", failure_class="fault", reason="boom")
    df = open_run(tmp_path / "run").table()
    assert list(df["tid"]) == ["t0000", "t0001"]
    assert list(df.columns[:8]) == ["tid", "status", "worker", "attempts", "est_cost",
                                    "est_s", "real_s", "started"]
    for col in ("finished", "failure_class", "reason", "neuron-model", "pr", "t",
                "mean_rate", "cv_isi"):
        assert col in df.columns
    row = df.set_index("tid").loc["t0000"]
    assert row["status"] == "finished" and row["worker"] == "w1"
    assert row["attempts"] == 1 and row["started"] == 100.0 and row["real_s"] == 0.25
    assert row["mean_rate"] == 12.5 and row["finished"] > 1e9
    assert np.isnan(df.set_index("tid").loc["t0001", "mean_rate"])
    assert store.finished() == {"t0000"}
    assert store.unfinished(include_failed=False) == []


def test_bad_status_field_and_tid(tmp_path):
    store = RunStore(tmp_path / "run")
    store.sync_tasks([_task(0)])
    with pytest.raises(StoreError, match="unknown task state"):
        store.set_status("t0000", "done")
    with pytest.raises(StoreError, match="unknown task field"):
        store.set_status("t0000", "assigned", colour="red")
    with pytest.raises(StoreError, match="no task"):
        store.set_status("nope", "assigned")
    with pytest.raises(StoreError, match="cannot name a data file"):
        store.data_path("../x")
    with pytest.raises(StoreError, match="no task"):
        store.record_result("nope", {}, 1.0, "w", None)


def test_meta_roundtrip(tmp_path):
    store = RunStore(tmp_path / "run")
    store.set_meta("filter", {"keep_if": "mean_rate > 5", "keep": ["ras"]})
    store.set_meta("filter", {"keep_if": None})
    assert store.get_meta("filter") == {"keep_if": None}
    assert store.get_meta("missing", 3) == 3
    assert open_run(tmp_path / "run").meta() == {"filter": {"keep_if": None}}


def test_query_with_hyphenated_names(tmp_path):
    store = RunStore(tmp_path / "run")
    tasks = [_task(i, model=m, pr=p) for i, (m, p) in
             enumerate((m, p) for m in ("HH-GH", "LIF-GH") for p in (0.1, 0.3, 0.5))]
    store.sync_tasks(tasks)
    for i, t in enumerate(tasks):
        store.record_result(t["tid"], {"mean_rate": 10.0 * i}, 0.1, "w", None)
    run = open_run(tmp_path / "run")
    got = run.query("mean_rate > 10 and pr < 0.4")
    assert list(got["tid"]) == ["t0003", "t0004"]
    assert list(run.query("neuron_model == 'HH-GH'")["tid"]) == ["t0000", "t0001", "t0002"]
    assert len(run.query("`neuron-model` == 'LIF-GH' and pr > 0.2")) == 2
    assert "neuron_model" not in got.columns  # the alias is for querying only
    with pytest.raises(StoreError, match="bad query"):
        run.query("no_such_column > 1")


def test_load_returns_result_and_clear_errors(tmp_path):
    store = RunStore(tmp_path / "run")
    store.sync_tasks([_task(0), _task(1), _task(2)])
    arrays = _arrays()
    store.record_result("t0000", {"mean_rate": 1.0}, 0.1, "w",
                        store.write_data("t0000", arrays))
    store.record_result("t0001", {"mean_rate": 0.0}, 0.1, "w", None)
    run = open_run(tmp_path / "run")
    res = run.load("t0000")
    assert isinstance(res, Result)
    assert res == Result.from_arrays(arrays)
    assert res.pm["neuron-model"] == "HH-GH" and res[0][2][0][0] == arrays["volt"][0, 0]
    with pytest.raises(NoDataError, match="filter dropped"):
        run.load("t0001")
    with pytest.raises(NoDataError, match="not-assigned"):
        run.load("t0002")
    with pytest.raises(StoreError, match="no task"):
        run.load("zzz")


def test_npz_bytes_are_stored_inside_the_index_and_load_back(tmp_path):
    store = RunStore(tmp_path / "run")
    store.sync_tasks([_task(i) for i in range(4)])
    arrays, summary = _arrays(), {"mean_rate": 1.0}
    data = encode_arrays(arrays)
    store.record_results([("t0000", summary, 0.1, "w", data),              # hash from bytes
                          ("t0001", summary, 0.1, "w", data, "ab" * 32),   # hash trusted
                          ("t0002", summary, 0.1, "w", bytearray(data))])
    assert not list((tmp_path / "run" / "data").iterdir())  # no file per task
    run = open_run(tmp_path / "run")
    df = run.table().set_index("tid")
    assert df.loc["t0000", "data_file"] == INLINE_DATA_FILE
    assert df.loc["t0000", "result_hash"] == result_hash(summary, arrays)
    assert df.loc["t0001", "result_hash"] == "ab" * 32
    res = run.load("t0002")
    assert res == Result.from_arrays(arrays) and res.pm["nE"] == 2
    assert res.paths["volt"] is None  # no file behind it
    with pytest.raises(zipfile.BadZipFile):  # truncated bytes are hashed from the bytes
        store.record_results([("t0003", summary, 0.1, "w", data[:-5], "ab" * 32)])
    # recorded again with a file: the inline copy goes, the file is what load reads
    other = _arrays(seed=1)
    store.record_result("t0000", summary, 0.1, "w", store.write_data("t0000", other))
    assert run.load("t0000") == Result.from_arrays(other)
    store.record_result("t0002", summary, 0.1, "w", None)  # and without data: none left
    with sqlite3.connect(tmp_path / "run" / "index.sqlite") as db:
        assert [r[0] for r in db.execute("SELECT tid FROM blobs")] == ["t0001"]
        db.execute("DELETE FROM blobs WHERE tid = 't0001'")  # damaged by hand: clear error
    with pytest.raises(StoreError, match="cannot read data of task t0001.*missing"):
        run.load("t0001")
    store.close()


def test_params_flatten_lists_and_matrices(tmp_path):
    store = RunStore(tmp_path / "run")
    net = np.eye(3)
    store.sync_tasks([_task(0, pr=[0.1, 0.2], net=net, seed=np.int64(7))])
    df = open_run(tmp_path / "run").table()
    assert df.loc[0, "pr"] == "0.1, 0.2"
    assert df.loc[0, "net"].startswith("matrix 3x3 #")
    assert df.loc[0, "seed"] == 7
    assert open_run(tmp_path / "run").params("t0000")["net"] == net.tolist()


def test_failures_grouped_by_reason(tmp_path):
    store = RunStore(tmp_path / "run")
    store.sync_tasks([_task(i) for i in range(4)])
    store.set_status("t0000", "failed", failure_class="fault", reason="Multiple spikes")
    store.set_status("t0002", "failed", failure_class="fault", reason="Multiple spikes")
    store.set_status("t0003", "failed", failure_class="hang", reason="timeout")
    fails = open_run(tmp_path / "run").failures()
    assert list(fails["reason"]) == ["Multiple spikes", "timeout"]
    assert list(fails["count"]) == [2, 1]
    assert fails.loc[0, "tids"] == ["t0000", "t0002"]


def test_open_run_on_non_run_dir(tmp_path):
    with pytest.raises(StoreError, match="not a run directory"):
        open_run(tmp_path)


_WRITER = textwrap.dedent("""
    import sys, time
    from neunet.store import RunStore
    store = RunStore(sys.argv[1])
    n = int(sys.argv[2])
    store.sync_tasks([{"tid": f"t{i:04d}", "pm": {"pr": i / n}, "est_cost": 1.0, "est_s": 1.0}
                      for i in range(n)])
    print("synced", flush=True)
    for i in range(n):
        store.set_status(f"t{i:04d}", "simulating", worker="w")
        store.record_result(f"t{i:04d}", {"mean_rate": float(i)}, 0.01, "w", None)
        print(i, flush=True)
        time.sleep(0.005)
    time.sleep(60)
""")


def test_reader_while_writer_writes_and_after_kill(tmp_path):
    """A reader in this process sees a real writer process's progress; SIGKILL loses nothing."""
    import pandas  # noqa: F401  (imported before the writer starts: table() is then quick)

    run_dir = tmp_path / "run"
    n = 300
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(run_dir), str(n)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "synced"
        run = open_run(run_dir)
        seen = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            df = run.table()
            assert len(df) == n
            done = int((df["status"] == "finished").sum())
            seen.append(done)
            if done == n:
                break
        assert seen[-1] == n
        assert len(set(seen)) > 1, "the reader never saw the sweep in progress"
        assert seen == sorted(seen)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    df = open_run(run_dir).table()
    assert (df["status"] == "finished").all()
    assert list(df["mean_rate"]) == [float(i) for i in range(n)]
    db = sqlite3.connect(run_dir / "index.sqlite")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_reported_write_survives_sigkill(tmp_path):
    """Whatever the writer printed as done before SIGKILL is in the index afterwards."""
    run_dir = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(run_dir), "2000"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "synced"
        for _ in range(20):
            last = int(proc.stdout.readline())
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    done = open_run(run_dir).query("status == 'finished'")
    assert len(done) >= last + 1
    assert json.loads(json.dumps(open_run(run_dir).summary(f"t{last:04d}"))) == {
        "mean_rate": float(last)}


def test_batch_writes(tmp_path):
    store = RunStore(tmp_path / "run")
    store.sync_tasks([_task(i) for i in range(4)])
    store.set_statuses([("t0000", "simulating", {"worker": "a"}),
                        ("t0001", "assigned", {"worker": "b", "attempts": 2}),
                        ("t0002", "filtering", None)])
    store.record_results([("t0000", {"mean_rate": 1.0}, 0.5, "a", None),
                          ("t0003", {"mean_rate": 3.0}, 0.5, "b",
                           store.write_data("t0003", _arrays()))])
    df = open_run(tmp_path / "run").table().set_index("tid")
    assert list(df["status"]) == ["finished", "assigned", "filtering", "finished"]
    assert df.loc["t0001", "attempts"] == 2 and df.loc["t0003", "data_file"] == "data/t0003.npz"
    with pytest.raises(StoreError, match="unknown task state"):
        store.set_statuses([("t0000", "bad", {})])
    with pytest.raises(StoreError, match="no task .zzz."):
        store.record_results([("zzz", {}, 0.1, "a", None)])


def test_record_results_takes_a_precomputed_hash_after_a_cheap_check(tmp_path):
    store = RunStore(tmp_path / "run")
    store.sync_tasks([_task(i) for i in range(4)])
    summary = {"mean_rate": 2.0}
    true_hash = result_hash(summary, _arrays())
    given = "ab" * 32  # a well-formed digest the store does not recompute for a sound .npz
    truncated = store.data_path("t0002")
    truncated.write_bytes(encode_arrays(_arrays())[:-5])
    store.record_results([
        ("t0000", summary, 0.5, "a", store.write_data("t0000", _arrays()), given),
        ("t0001", summary, 0.5, "a", store.write_data("t0001", _arrays()), "not a hash"),
        ("t0003", summary, 0.5, "a", store.write_data("t0003", _arrays()), None)])
    df = open_run(tmp_path / "run").table().set_index("tid")
    assert df.loc["t0000", "result_hash"] == given
    assert df.loc["t0001", "result_hash"] == df.loc["t0003", "result_hash"] == true_hash
    with pytest.raises(zipfile.BadZipFile):  # a truncated file is hashed from the file
        store.record_results([("t0002", summary, 0.5, "a", truncated, given)])
    assert stored_summary({1: np.float32(0.5)}) == {"1": 0.5}


def test_real_sweep_table_query_load(tmp_path):
    """Real simulations through the worker-side filter into the store, read back."""
    from neunet import parameters, simulate
    from neunet.analysis.filters import apply_filter, compile_filter

    spec = compile_filter({"keep_if": "mean_rate > 5", "keep": ["volt", "ras", "isi"]})
    store = RunStore(tmp_path / "run")
    tasks, direct = [], {}
    for i, (model, pr) in enumerate((m, p) for m in ("HH-GH", "LIF-GH") for p in (0.0, 1.5)):
        pm = dict(parameters(), **{"neuron-model": model, "pr": pr, "ps": 0.04 if model ==
                                   "HH-GH" else 0.01, "t": 200.0, "nE": 3, "nI": 1})
        tasks.append({"tid": f"task{i}", "pm": pm, "est_cost": 1.0, "est_s": 0.1})
    store.sync_tasks(tasks)
    for task in tasks:
        res = simulate(task["pm"])
        summary, kept = apply_filter(spec, res, task["pm"])
        path = store.write_data(task["tid"], kept) if kept is not None else None
        store.record_result(task["tid"], summary, 0.1, "here", path)
        direct[task["tid"]] = res
    run = open_run(tmp_path / "run")
    df = run.table()
    assert (df["status"] == "finished").all() and df["mean_rate"].notna().all()
    firing = run.query("mean_rate > 5")
    assert set(firing["tid"]) == {"task1", "task3"}  # the pr = 1.5 runs
    assert list(run.query("neuron_model == 'LIF-GH' and pr > 1")["tid"]) == ["task3"]
    for tid in ("task1", "task3"):
        loaded = run.load(tid)
        assert np.array_equal(loaded.volt, direct[tid].volt)
        assert np.array_equal(loaded.ras, direct[tid].ras)
        assert np.array_equal(loaded[0][2][0], direct[tid][0][2][0])
        assert loaded.pm["neuron-model"] == df.set_index("tid").loc[tid, "neuron-model"]
        assert loaded.extra["pn_rate_hz"].shape == (4,)
    with pytest.raises(NoDataError, match="filter dropped"):
        run.load("task0")


def test_table_mixes_mirrored_and_pending_rows(tmp_path):
    """Parameters of finished tasks come from mirror columns, the others from their JSON."""
    store = RunStore(tmp_path / "run")
    store.sync_tasks([_task(0, flag=True), _task(1, model="LIF-G", pr=[0.1, 0.2], flag=False),
                      _task(2, extra_key=5)])
    store.record_result("t0000", {"mean_rate": 4.0}, 0.1, "w", None)
    df = open_run(tmp_path / "run").table()
    assert list(df["neuron-model"]) == ["HH-GH", "LIF-G", "HH-GH"]
    assert list(df["pr"]) == [0.1, "0.1, 0.2", 0.1]
    assert df["flag"].tolist()[:2] == [True, False]
    assert df["extra_key"].tolist()[2] == 5 and df["extra_key"].isna().tolist()[:2] == [True,
                                                                                        True]
    assert df.loc[0, "mean_rate"] == 4.0 and df["mean_rate"].isna().tolist()[1:] == [True, True]
    store.record_results([("t0001", {"mean_rate": 1.0}, 0.1, "w", None),
                          ("t0002", {"mean_rate": 2.0}, 0.1, "w", None)])
    again = open_run(tmp_path / "run").table()
    assert again["flag"].tolist()[:2] == [True, False]
    assert list(again["pr"]) == [0.1, "0.1, 0.2", 0.1] and again.loc[2, "extra_key"] == 5
    db = sqlite3.connect(tmp_path / "run" / "index.sqlite")
    assert db.execute("SELECT SUM(mirrored) FROM tasks").fetchone()[0] == 3


class _Touch:
    """Unpickling this creates a file: it shows whether a pickle in a data file ever ran."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_data_file_holding_a_pickle_is_refused_never_unpickled(tmp_path):
    store = RunStore(tmp_path / "run")
    store.sync_tasks([_task(0)])
    marker = tmp_path / "unpickled"
    path = store.data_path("t0000")
    np.savez(path, x=np.array([_Touch(marker)], dtype=object), y=np.arange(3.0))
    with pytest.raises(ValueError, match="allow_pickle=False"):  # hashing it: refused
        store.record_result("t0000", {"mean_rate": 1.0}, 0.1, "w", path)
    store.record_results([("t0000", {"mean_rate": 1.0}, 0.1, "w", path, "0" * 64)])
    with pytest.raises(StoreError, match="cannot read data of task t0000.*allow_pickle=False"):
        open_run(tmp_path / "run").load("t0000")
    assert not marker.exists()
