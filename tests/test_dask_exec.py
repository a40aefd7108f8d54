"""The Dask executor against a real LocalCluster (2 worker processes, 1 thread each).

Tiny simulations (1 neuron, t = 20 ms) so the whole module stays well under a minute and a
half; the kill test uses a few longer ones so a worker can die mid-task.
"""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

from neunet import parameters, simulate  # noqa: E402
from neunet.analysis import filters  # noqa: E402
from neunet.runner.dask.executor import DaskNotInstalled, run_on_dask  # noqa: E402
from neunet.store import open_run  # noqa: E402
from neunet.sweep.tasks import Task  # noqa: E402

# Repository root (the subprocess test imports neunet from here).
ROOT = Path(__file__).resolve().parents[1]


def tiny_pm(seed, pr=0.5, t_ms=20.0):
    """One LIF-GH neuron driven hard enough to spike within t_ms."""
    pm = parameters()
    pm.update({"neuron-model": "LIF-GH", "nE": 1, "nI": 0, "t": t_ms, "pr": pr,
               "ps": 0.04, "seed": seed})
    return pm


def make_tasks(pms):
    return [Task(pm) for pm in pms]


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=":0")
    dask_client = distributed.Client(cluster)
    dask_client.wait_for_workers(2)
    dask_client.run(simulate, tiny_pm(0))  # load the kernels on both workers once
    yield dask_client
    dask_client.close()
    cluster.close()


def assert_same_as_simulate(run, task, spec=None):
    """The stored data and summary equal a direct in-process simulation plus filter."""
    expected = simulate(task.pm)
    summary, kept = filters.apply_filter(spec, expected, task.pm)
    row = run.table().set_index("tid").loc[task.tid]
    for name, value in summary.items():
        assert row[name] == pytest.approx(value, nan_ok=True), name
    stored = run.load(task.tid)
    for key in ("volt", "ras", "isi"):
        if key in kept:
            np.testing.assert_array_equal(getattr(stored, key), kept[key], err_msg=key)


def test_sweep_matches_simulate_and_runs_most_expensive_first(client, tmp_path):
    pms = [tiny_pm(seed, pr=0.3 + 0.1 * seed, t_ms=20.0 + 5.0 * seed) for seed in range(8)]
    tasks = make_tasks(pms)
    with distributed.get_task_stream(client) as stream:
        status = run_on_dask(tasks, None, tmp_path / "run", client)
    assert status == 0
    run = open_run(tmp_path / "run")
    table = run.table()
    assert sorted(table["tid"]) == sorted(t.tid for t in tasks)
    assert set(table["status"]) == {"finished"}
    assert all(w.startswith("dask:tcp://") for w in table["worker"])
    for task in tasks:
        assert_same_as_simulate(run, task)
    # Dask ran them by priority from time_cost, most expensive first. Two workers each
    # hold up to two tasks and the machine is shared, so neighbours may swap: require the
    # first start to be one of the two most expensive, and the expensive half to start
    # clearly earlier than the cheap half (inverted priorities would fail both).
    starts = {}
    for rec in stream.data:
        tid = rec["key"].split("-")[1]
        starts[tid] = min(s["start"] for s in rec["startstops"] if s["action"] == "compute")
    started = sorted(starts, key=starts.get)
    by_cost = [t.tid for t in sorted(tasks, key=lambda t: t.time[0], reverse=True)]
    position = [started.index(tid) for tid in by_cost]
    assert started[0] in by_cost[:2], position
    assert sum(position[:4]) < sum(position[4:]), position


def test_filter_runs_on_worker(client, tmp_path):
    tasks = make_tasks([tiny_pm(seed, pr=pr) for seed, pr in enumerate([0.0, 0.0, 2.0, 2.0])])
    user_filter = {"keep_if": "n_spikes > 0", "keep": ["ras"]}
    spec = filters.compile_filter(user_filter)
    assert run_on_dask(tasks, spec, tmp_path / "run", client) == 0
    run = open_run(tmp_path / "run")
    table = run.table().set_index("tid")
    for task in tasks:
        summary, kept = filters.apply_filter(spec, simulate(task.pm), task.pm)
        assert table.loc[task.tid, "n_spikes"] == summary["n_spikes"]
        if kept is None:
            assert not (tmp_path / "run" / "data" / f"{task.tid}.npz").exists()
        else:
            stored = run.load(task.tid)
            assert "volt" not in stored  # reduced on the worker: only the raster travelled
            np.testing.assert_array_equal(stored.ras, kept["ras"])
    assert (table["n_spikes"] == 0).sum() == 2


def test_failure_recorded_after_retries(client, tmp_path):
    net = tmp_path / "net.txt"
    net.write_text("0\n")
    bad = tiny_pm(1)
    bad["net"] = str(net)
    tasks = make_tasks([tiny_pm(0), bad])
    net.unlink()  # the simulator cannot read its network any more: a task fault
    assert run_on_dask(tasks, None, tmp_path / "run", client, retries=1) == 1
    table = open_run(tmp_path / "run").table().set_index("tid")
    assert table.loc[tasks[0].tid, "status"] == "finished"
    row = table.loc[tasks[1].tid]
    assert row["status"] == "failed"
    assert row["failure_class"] == "fault"
    assert row["attempts"] == 2
    assert "net.txt" in row["reason"]


def test_restart_resumes_without_rerunning(client, tmp_path):
    tasks = make_tasks([tiny_pm(seed, t_ms=2000.0) for seed in range(10)])

    def stop_after_three(counts):
        if counts["finished"] >= 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_on_dask(tasks, None, tmp_path / "run", client, progress=stop_after_three)
    first = open_run(tmp_path / "run").table().set_index("tid")
    done_before = first.index[first["status"] == "finished"]
    assert 3 <= len(done_before) < len(tasks)

    seen = []
    assert run_on_dask(tasks, None, tmp_path / "run", client, progress=seen.append) == 0
    assert seen[0]["finished"] == len(done_before)
    assert seen[-1]["submitted"] == len(tasks) - len(done_before)
    after = open_run(tmp_path / "run").table().set_index("tid")
    assert set(after["status"]) == {"finished"}
    for tid in done_before:  # finished tasks were not run again
        assert after.loc[tid, "finished"] == first.loc[tid, "finished"]
        assert after.loc[tid, "worker"] == first.loc[tid, "worker"]
    # A third call has nothing to do and does not touch Dask.
    assert run_on_dask(tasks, None, tmp_path / "run", "tcp://127.0.0.1:9") == 0


def _executing(dask_worker):
    """Keys a Dask worker is executing right now (run on the worker by client.run)."""
    return [k for k, ts in dask_worker.state.tasks.items() if ts.state == "executing"]


def test_worker_killed_mid_sweep_loses_nothing(client, tmp_path):
    tasks = make_tasks([tiny_pm(seed, t_ms=5000.0) for seed in range(8)])
    pids = client.run(os.getpid)
    killed = []

    def kill_a_busy_worker(counts):
        if killed or counts["finished"] < 1:
            return
        for address, keys in client.run(_executing).items():
            if keys and address in pids:
                os.kill(pids[address], signal.SIGKILL)
                killed.append((keys[0].split("-")[1], address, time.time()))
                return

    assert run_on_dask(tasks, None, tmp_path / "run", client, progress=kill_a_busy_worker) == 0
    assert killed, "no worker was caught mid-task"
    run = open_run(tmp_path / "run")
    table = run.table().set_index("tid")
    assert set(table["status"]) == {"finished"} and len(table) == len(tasks)
    tid, address, kill_time = killed[0]
    # the killed task was either rerun elsewhere or its result left the worker just before
    # the kill (then it is recorded on arrival, possibly a moment after kill_time): either way
    # it is stored once, with the right numbers (checked below)
    files = sorted(p.name for p in (tmp_path / "run" / "data").iterdir())
    assert files == sorted(f"{t.tid}.npz" for t in tasks)  # once each, no temp files left
    assert_same_as_simulate(run, next(t for t in tasks if t.tid == tid))


def test_missing_dask_says_what_to_install(tmp_path):
    code = ("import sys; sys.modules['distributed'] = None\n"
            "from neunet.runner.dask.executor import run_on_dask\n"
            "try:\n"
            "    run_on_dask([], None, sys.argv[1], 'tcp://127.0.0.1:9')\n"
            "except ImportError as exc:\n"
            "    print(type(exc).__name__, exc)\n")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "run")], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(DaskNotInstalled.__name__)
    assert "pip install neunet[dask]" in out.stdout


def test_cli_entry_takes_coordinator_rows_and_reports_one_line_errors(client, tmp_path):
    import io

    from neunet import params
    from neunet.runner.dask.cli import main_dask
    tasks = make_tasks([tiny_pm(seed) for seed in range(3)])
    rows = [(t.tid, params.plain(t.pm), t.time[0], t.time[1]) for t in tasks]
    out = io.StringIO()
    address = client.scheduler.address
    assert main_dask(rows, None, tmp_path / "run", address.replace("tcp://", "dask://"),
                     stream=out) == 0
    last = out.getvalue().splitlines()[-1]
    assert last.startswith("sweep done: 3 finished, 0 failed of 3 in ") and last.endswith(
        f"results: open_run({str(tmp_path / 'run')!r})"), last
    assert set(open_run(tmp_path / "run").table()["status"]) == {"finished"}

    err = io.StringIO()
    assert main_dask(rows, None, tmp_path / "other", "tcp://127.0.0.1:9", stream=err,
                     connect_timeout_s=1) == 2
    last = err.getvalue().splitlines()[-1]
    assert last.startswith("neunet.coordinator: error: --dask tcp://127.0.0.1:9: cannot reach")


def test_unseeded_tasks_get_the_coordinators_derived_seed_and_provenance(client, tmp_path):
    """A task without a seed runs with derive_seed(0, tid), as under the built-in coordinator."""
    from neunet.sweep.provenance import derive_seed
    task = Task(tiny_pm(None, pr=1.0))
    assert task.pm.get("seed") is None
    assert run_on_dask([task], None, tmp_path / "run", client) == 0
    run = open_run(tmp_path / "run")
    seeded = dict(task.pm, seed=[derive_seed(0, task.tid)])
    stored = run.load(task.tid)
    assert len(stored.ras) and len(stored.ras) != len(simulate(task.pm).ras)  # seed matters
    np.testing.assert_array_equal(stored.ras, simulate(seeded).ras)
    assert run.meta()["provenance"]["neunet_version"]
