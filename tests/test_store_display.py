"""How a run's reader shows itself (neunet.store.display) and the reader's task-id prefixes and
table(varying=True), on a real run directory."""
import pytest

from neunet.store import RunStore, StoreError, open_run


@pytest.fixture()
def run(tmp_path):
    store = RunStore(tmp_path / "run")
    tasks = [{"tid": f"{tid}", "pm": {"pr": pr, "nE": 4, "neuron-model": model, "seed": [i]},
              "est_cost": 1, "est_s": 1}
             for i, (tid, pr, model) in enumerate([("aa01", 0.5, "LIF-GH"), ("aa02", 1.0, "LIF-GH"),
                                                    ("b3", 0.5, "HH-GH"), ("c4", 1.0, "HH-GH")])]
    store.sync_tasks(tasks)
    store.record_results([(t["tid"], {"mean_rate": float(i)}, 0.1, "w", None)
                          for i, t in enumerate(tasks[:3])])
    store.set_status("c4", "failed", failure_class="fault", reason="exploded\ntrace")
    store.close()
    return open_run(tmp_path / "run")


def test_table_of_what_varies(run):
    full = run.table()
    short = run.table(varying=True)
    assert list(short.columns) == ["tid", "status", "real_s", "failure_class", "reason", "pr",
                                   "neuron-model", "mean_rate"]
    assert len(full.columns) > len(short.columns) and len(short) == 4
    assert "nE" not in short and "seed" not in short  # constant, and different in every task


def test_unique_prefixes_name_tasks(run):
    assert run.resolve("b") == "b3" and run.params("c")["neuron-model"] == "HH-GH"
    assert run.task("aa01")["status"] == "finished" and run.summary("aa02") == {"mean_rate": 1.0}
    with pytest.raises(StoreError, match="ambiguous.*aa01, aa02"):
        run.resolve("aa")
    with pytest.raises(StoreError, match="no task 'zz'"):
        run.load("zz")


def test_repr_and_notebook_html(run, tmp_path):
    text = repr(run)
    assert text.startswith(f"<Run {str(tmp_path / 'run')!r}: 4 tasks (3 finished, 1 failed)")
    assert text.endswith("varying pr, neuron-model>")
    page = run._repr_html_()
    assert "3 finished, 1 failed" in page and "exploded" in page and "<table" in page
    assert "<code>pr</code>: 0.5..1 (2 values)" in page
    broken = tmp_path / "broken"
    (broken).mkdir()
    (broken / "index.sqlite").write_bytes(b"not a database")
    with pytest.raises(StoreError, match="is not an SQLite database"):  # said at open
        open_run(broken)
    opened = open_run(tmp_path / "run")  # an index damaged after it was opened
    (tmp_path / "run" / "index.sqlite").write_bytes(b"not a database")
    assert "unreadable" in repr(opened)
