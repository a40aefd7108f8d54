"""The dashboard's data layer on real run directories (RunStore writes, RunModel reads):
incremental refreshes agree with a fresh full read, and what is shipped stays bounded."""
import itertools
import time

import numpy as np
import pandas as pd
import pytest

from neunet.runner.dashboard import views
from neunet.runner.dashboard.model import RunModel
from neunet.store import RunStore, StoreError


def _task(i, **pm):
    return {"tid": f"t{i:04d}", "pm": dict({"pr": 0.5 + 0.1 * (i % 5), "nE": 2, "t": 100.0},
                                           **pm), "est_cost": 1.0, "est_s": 0.1}


def _snapshot(model):
    """What a model knows, comparable between models."""
    n = model.n()
    rows = {tid: (model.column("status")[i], model.column("worker")[i],
                  model.column("started")[i], model.column("finished")[i])
            for i, tid in enumerate(model.tids[:n])
            if model.column("status")[i] != "not-assigned"}  # back in the queue: not shown
    done = model.column("status") == "finished"
    params = {k: sorted(map(str, model.column(k)[done])) for k in model.params}
    stats = {k: sorted(model.column(k)[done].tolist()) for k in model.stats}
    return rows, params, stats, dict(model.failures), model.progress()


def test_refresh_follows_a_run_and_agrees_with_a_full_read(tmp_path):
    store = RunStore(tmp_path / "run")
    store.sync_tasks([_task(i) for i in range(20)])
    live = RunModel(tmp_path / "run")
    assert live.refresh() and live.n() == 0 and live.progress()["queued"] == 20
    now = time.time()
    for step in range(4):  # tasks start, finish, fail, go back to the queue
        tids = [f"t{i:04d}" for i in range(step * 5, step * 5 + 5)]
        store.set_statuses([(t, "simulating", {"worker": "w1", "started": now}) for t in tids])
        assert live.refresh()
        assert live.progress()["running"] == 5
        store.record_results([(t, {"mean_rate": float(k), "cv": 0.5}, 0.1, "w1", None)
                              for k, t in enumerate(tids[:3])])
        store.set_status(tids[3], "failed", failure_class="fault", reason="boom\nmore",
                         finished=time.time())
        store.set_status(tids[4], "not-assigned", worker=None)
        live.refresh()
        assert _snapshot(live) == _snapshot(_fresh(tmp_path / "run"))
    assert live.progress() == {"total": 20, "finished": 12, "failed": 4, "running": 0,
                               "queued": 4}
    assert live.failure_groups() == [{"failure_class": "fault", "reason": "boom", "count": 4,
                                      "tids": ["t0003", "t0008", "t0013", "t0018"]}]
    assert sorted(live.params) == ["pr"] and live.constant["nE"] == 2
    assert not live.refresh()  # nothing changed: nothing to push


def test_a_parameter_that_starts_varying_late_is_found(tmp_path):
    store = RunStore(tmp_path / "run")
    store.sync_tasks([_task(i, nE=2 if i < 3 else 3) for i in range(4)])
    model = RunModel(tmp_path / "run")
    model.refresh()
    store.record_results([(f"t{i:04d}", {"m": 1.0}, 0.1, "w", None) for i in range(3)])
    model.refresh()
    assert "nE" in model.params  # varies in the tasks' parameters though not yet in results
    store.record_results([("t0003", {"m": 2.0}, 0.1, "w", None)])
    model.refresh()
    assert sorted(model.column("nE").tolist()) == [2, 2, 2, 3]


def _fresh(run_dir):
    model = RunModel(run_dir)
    model.refresh()
    return model


def test_not_a_run_directory_is_a_store_error(tmp_path):
    with pytest.raises(StoreError, match="not a run directory"):
        RunModel(tmp_path)


def _finished_run(tmp_path, n, x_values, colours):
    store = RunStore(tmp_path / "run")
    tasks = [_task(i, pr=float(x_values[i % len(x_values)]), model=colours[i % len(colours)])
             for i in range(n)]
    store.sync_tasks(tasks)
    rng = np.random.default_rng(0)
    store.record_results([(t["tid"], {"rate": float(rng.normal(t["pm"]["pr"], 1))}, 0.1, "w",
                           None) for t in tasks])
    return _fresh(tmp_path / "run"), tasks


def test_sweep_points_match_a_pandas_groupby(tmp_path):
    model, tasks = _finished_run(tmp_path, 60, [0.5, 1.0, 1.5, 2.0], ["LIF", "HH", "HH"])
    got = views.sweep_points(model, "pr", "rate", "model")
    df = pd.DataFrame({"x": model.column("pr"), "c": model.column("model"),
                       "y": model.column("rate")})
    want = df.groupby(["c", "x"])["y"].agg(["mean", "min", "max", "count"])
    assert got["n_tasks"] == 60 and {s["name"] for s in got["series"]} == {"LIF", "HH"}
    for s in got["series"]:
        for x, y, lo, hi, n, tid in zip(s["x"], s["y"], s["lo"], s["hi"], s["n"], s["tid"]):
            row = want.loc[(s["name"], x)]
            assert (y, lo, hi, n) == pytest.approx((row["mean"], row["min"], row["max"],
                                                    row["count"]))
            i = model.pos[tid]  # the representative task is one of the group's
            assert model.column("pr")[i] == x and model.column("model")[i] == s["name"]


def test_sweep_points_stay_bounded_with_many_values(tmp_path):
    xs = np.linspace(0.0, 1.0, 900)
    model, _ = _finished_run(tmp_path, 900, xs, [f"m{i}" for i in range(30)])
    got = views.sweep_points(model, "pr", "rate", "model")
    assert got["x_binned"] and sum(sum(s["n"]) for s in got["series"]) == 900
    assert len(got["series"]) <= views.MAX_COLOURS
    assert all(len(s["x"]) <= views.MAX_X for s in got["series"])
    with pytest.raises(KeyError):
        views.sweep_points(model, "nE", "rate")  # constant: not a sweep axis


def test_stream_lanes_never_hold_overlapping_bars_beyond_the_slack(tmp_path):
    store = RunStore(tmp_path / "run")
    store.sync_tasks([_task(i) for i in range(40)])
    rng = np.random.default_rng(1)
    t0 = time.time() - 100
    starts = {}
    for i in range(40):
        worker = f"w{i % 2}"
        start = t0 + rng.uniform(0, 50)
        starts[f"t{i:04d}"] = (worker, start, start + rng.uniform(0.5, 5))
    store.set_statuses([(t, "simulating", {"worker": w, "started": s})
                        for t, (w, s, _) in starts.items()])
    store.record_results([(t, {"m": 1.0}, e - s, w, None) for t, (w, s, e) in starts.items()],
                         finished={t: e for t, (_, _, e) in starts.items()})
    model = _fresh(tmp_path / "run")
    stream = views.stream_bars(model, time.time())
    assert stream["n_bars"] == 40
    by_lane: dict = {}
    for lane, s, e, _, tid in stream["bars"]:
        assert stream["lanes"][lane].startswith(starts[tid][0])  # lanes belong to a worker
        by_lane.setdefault(lane, []).append((s, e))
    for bars in by_lane.values():
        bars.sort()
        for (_, e1), (s2, e2) in itertools.pairwise(bars):
            assert s2 >= e1 - views.LANE_SLACK_S - views.LANE_SLACK_FRACTION * (e2 - s2)
    capped = views.stream_bars(model, time.time(), slots={"w0": 1, "w1": 1})
    assert len(capped["lanes"]) == 2  # one slot each: one lane each


def test_task_detail_decimates_raster_and_voltage(tmp_path):
    from neunet.store import open_run
    from neunet.store.npz import encode_arrays
    store = RunStore(tmp_path / "run")
    store.sync_tasks([_task(0)])
    t_ms = np.arange(1, 50001) * 0.1
    volt = np.sin(t_ms / 7.0)[None, :].repeat(3, axis=0)
    volt[1, 12345] = 9.0  # a spike must survive decimation
    ras = np.column_stack([np.tile([1, 2, 3], 20000), np.linspace(0, 5000, 60000)])
    store.record_results([("t0000", {"m": np.nan}, 1.0, "w",
                           encode_arrays({"volt": volt, "ras": ras, "t_ms": t_ms}))])
    d = views.task_detail(open_run(tmp_path / "run"), "t00")  # a unique prefix will do
    assert d["tid"] == "t0000" and d["summary"] == {"m": None} and d["params"]["nE"] == 2
    assert d["raster"]["n_spikes"] == 60000 and d["raster"]["shown"] <= views.MAX_SPIKES
    trace = d["voltage"]["traces"][1]
    assert len(trace["v"]) <= views.MAX_POINTS and max(trace["v"]) == 9.0
    assert d["voltage"]["n_samples"] == 50000
