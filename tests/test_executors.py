"""neunet.run: the same sweep through the built-in coordinator and through Dask, same run dir."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import neunet
from neunet import parameters, simulate
from neunet.analysis import filters
from neunet.sweep.executors import classify_executor, default_run_dir
from neunet.sweep.tasks import Task

# Repository root (subprocess tests import neunet from here).
ROOT = Path(__file__).resolve().parents[1]
# A filter that keeps the raster of spiking tasks only.
SPIKERS_RASTER = {"keep_if": "n_spikes > 0", "keep": ["ras", "volt"], "downsample": 2}


def tiny_pms():
    pms = []
    for seed, pr in enumerate([0.0, 0.5, 1.0, 2.0]):
        pm = parameters()
        pm.update({"neuron-model": "LIF-GH", "nE": 1, "nI": 0, "t": 20.0, "pr": pr,
                   "ps": 0.04, "seed": seed})
        pms.append(pm)
    return pms


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    local = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                     dashboard_address=":0")
    yield local
    local.close()


def comparable(run):
    """(summary columns, kept arrays) of every task of a run, keyed by tid."""
    table = run.table().set_index("tid")
    stats = [c for c in ("n_spikes", "mean_rate", "v_mean", "v_std") if c in table]
    out = {}
    for tid, row in table.iterrows():
        assert row["status"] == "finished", (tid, row["reason"])
        try:
            arrays = run.load(tid).to_arrays()
        except LookupError:
            arrays = None
        out[tid] = ({s: row[s] for s in stats}, arrays)
    return out


def test_local_and_dask_give_identical_run_dirs(cluster, tmp_path, capsys):
    distributed = pytest.importorskip("distributed")
    pms = tiny_pms()
    local = neunet.run(pms, run_dir=tmp_path / "local", executor="local", slots=2,
                       filter=SPIKERS_RASTER)
    with distributed.Client(cluster) as client:
        dask = neunet.run(pms, run_dir=tmp_path / "dask", executor=client,
                          filter=SPIKERS_RASTER)
    a, b = comparable(local), comparable(dask)
    assert sorted(a) == sorted(b) == sorted(Task(pm).tid for pm in pms)
    spec = filters.compile_filter(SPIKERS_RASTER)
    for pm in pms:
        tid = Task(pm).tid
        (stats_a, arrays_a), (stats_b, arrays_b) = a[tid], b[tid]
        assert stats_a == pytest.approx(stats_b, nan_ok=True)
        _, kept = filters.apply_filter(spec, simulate(pm), pm)
        assert (arrays_a is None) == (arrays_b is None) == (kept is None)
        if kept is not None:
            assert sorted(arrays_a) == sorted(arrays_b)
            for key in ("volt", "ras"):
                np.testing.assert_array_equal(arrays_a[key], arrays_b[key])
                np.testing.assert_array_equal(arrays_b[key], kept[key])
    assert any(v[1] is None for v in a.values()) and any(v[1] is not None for v in a.values())
    workers = set(dask.table()["worker"])
    assert all(w.startswith("dask:") for w in workers)
    # both printed their dashboard's URL and drew a progress bar (text: not a notebook)
    out, err = capsys.readouterr()
    assert out.count("dashboard: http://127.0.0.1:") == 2, out
    assert err.count("4/4 [") >= 2 and "finished=4" in err, err
    link = dask.meta("dask_dashboard")  # the Dask scheduler's own dashboard, named
    assert link.startswith("http://") and link.endswith("/status")
    from neunet.runner.dashboard.embed import serve_in_thread
    url, stop = serve_in_thread(tmp_path / "dask", "127.0.0.1:0")
    try:
        import json
        import urllib.request
        with urllib.request.urlopen(url + "api/state", timeout=30) as page:
            state = json.load(page)
    finally:
        stop()
    assert state["run"]["executor"] == "dask" and state["run"]["dask_dashboard"] == link
    assert state["progress"]["finished"] == 4 and {w["name"] for w in state["workers"]} == \
        workers


def test_dask_address_resumes_a_local_run_without_rerunning(cluster, tmp_path):
    pms = tiny_pms()
    first = neunet.run(pms[:2], run_dir=tmp_path / "run", executor="local", slots=1)
    before = first.table().set_index("tid")
    seen = []
    run = neunet.run(pms, run_dir=tmp_path / "run", executor=cluster.scheduler_address,
                     progress=seen.append)
    after = run.table().set_index("tid")
    assert seen[0]["finished"] == 2 and seen[-1]["submitted"] == 2
    assert set(after["status"]) == {"finished"}
    for tid in before.index:  # the local executor's results stand
        assert after.loc[tid, "finished"] == before.loc[tid, "finished"]
        assert after.loc[tid, "worker"] == before.loc[tid, "worker"]


def test_executor_forms():
    assert classify_executor("local") == ("local", None)
    assert classify_executor("tcp://h:8786") == ("dask", "tcp://h:8786")
    assert classify_executor("dask://h:8786") == ("dask", "tcp://h:8786")
    with pytest.raises(ValueError, match="unknown executor 'ssh://h'"):
        classify_executor("ssh://h")
    with pytest.raises(ValueError, match="unknown executor 3"):
        classify_executor(3)


def test_a_neunet_url_is_an_unknown_executor_that_names_the_coordinator(tmp_path):
    with pytest.raises(ValueError, match="python -m neunet.coordinator"):
        neunet.run(tiny_pms()[:1], run_dir=tmp_path / "run", executor="neunet://127.0.0.1:1")


def test_bad_inputs_are_refused_before_anything_runs(tmp_path):
    with pytest.raises(ValueError, match="no tasks"):
        neunet.run([], run_dir=tmp_path / "run")
    with pytest.raises(filters.FilterError, match="column"):
        neunet.run(tiny_pms()[:1], run_dir=tmp_path / "run", filter="mean_rate >")
    with pytest.raises(ValueError, match="did you mean 'scee'"):
        neunet.run([{"scee_mv": 1.0}], run_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_default_run_dir_is_the_same_for_the_same_sweep():
    tasks = [Task(pm) for pm in tiny_pms()]
    assert default_run_dir(tasks) == default_run_dir(list(reversed(tasks)))
    assert default_run_dir(tasks) != default_run_dir(tasks[:2])
    assert default_run_dir(tasks).parent == Path("runs")


def test_dask_executor_without_dask_says_what_to_install(tmp_path):
    code = ("import sys; sys.modules['distributed'] = None\n"
            "import neunet\n"
            "pm = neunet.parameters(); pm['t'] = 20.0\n"
            "try:\n"
            "    neunet.run([pm], run_dir=sys.argv[1], executor='tcp://127.0.0.1:9')\n"
            "except ImportError as exc:\n"
            "    print(exc)\n")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "run")], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "pip install neunet[dask]" in out.stdout


def test_coordinator_dask_flag_runs_the_sweep_on_the_cluster(cluster, tmp_path):
    tasks_py = tmp_path / "TASKS.py"
    tasks_py.write_text("from neunet import parameters\n"
                        "pm = parameters()\n"
                        "pm.update({'neuron-model': 'LIF-GH', 't': 20.0, 'ps': 0.04})\n"
                        "tasks = [dict(pm, seed=s) for s in range(3)]\n"
                        "filter = {'keep': ['ras']}\n")
    cmd = [sys.executable, "-m", "neunet.coordinator", str(tasks_py), "--run-dir",
           str(tmp_path / "run"), "--dask", cluster.scheduler_address]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "dashboard: http://127.0.0.1:" in out.stderr  # served from a thread meanwhile
    assert out.stderr.strip().splitlines()[-1].startswith("sweep done: 3 finished, 0 failed")
    table = neunet.open_run(tmp_path / "run").table()
    assert len(table) == 3 and set(table["status"]) == {"finished"}
    assert all(w.startswith("dask:") for w in table["worker"])
    bad = subprocess.run(cmd[:-1] + ["tcp://127.0.0.1:9"], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert bad.returncode == 0  # every task is already finished: nothing to submit
    out = subprocess.run(cmd[:4] + ["--run-dir", str(tmp_path / "other"), "--dask", "nonsense"],
                         cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith("neunet.coordinator: error:")
