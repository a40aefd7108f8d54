"""Tests of neunet.sweep.tasks: the seed's task_generator example, Task, grid/zipped, task files."""
import json
import subprocess
import sys

import numpy as np
import pytest

from neunet import Task, grid, parameters, task_generator, time_cost, zipped
from neunet.params import ParameterError
from neunet.sweep import tasks as tasks_mod


def seed_example():
    """The original interface's lab_neu example, in Python 3 form, as written."""
    pm = parameters()          # Create the default parameters for simulation
    pm['t'] = 100              # You can change the parameters by keys

    tg = task_generator(pm)    # Use 'pm' as a prototype of all tasks' parameters
    tg.add(tg.pms, 'neuron-model', ['HH-PT-GH', 'HH-GH'])
    tg.add(tg.pms, 'pr', [x/100.0 for x in range(0,100)])

    masks = [dict(x) for x in tg.pms if x['pr'] < 0.4 and x['neuron-model'] == 'HH-PT-GH']
    print("tasks generated: %d" % len(masks))
    for mask in masks:
        mask['neuron-model'] = '*'
    tg.add(masks, 't', [1000])

    tasks = tg.generate()
    print([(a.tid, a.pm['neuron-model'], a.pm['pr']) for a in tasks])
    return tg, masks, tasks


def test_seed_example_gives_exactly_the_described_tasks(capsys):
    tg, masks, tasks = seed_example()
    assert capsys.readouterr().out.startswith("tasks generated: 40\n")
    assert len(masks) == 40 and len(tg.pms) == 200 and len(tasks) == 200
    long = [t for t in tasks if t.pm["t"] == 1000]
    assert len(long) == 80
    assert all(t.pm["pr"] < 0.4 for t in long)
    assert {t.pm["neuron-model"] for t in long} == {"HH-PT-GH", "HH-GH"}
    assert all(t.pm["t"] == 100 for t in tasks if t.pm["pr"] >= 0.4)
    assert len({t.tid for t in tasks}) == 200
    assert all(t.status == "not-assigned" and t.assigned_to == [] for t in tasks)
    assert all(t.time[0] > 0 and t.time[1] > 0 and t.time[2] is None for t in tasks)
    assert all(t.time[:2] == list(time_cost(t.pm)) for t in tasks[:5])


def test_add_mask_semantics():
    pm = dict(parameters(), nE=2)
    tg = task_generator(pm)
    tg.add(tg.pms, "pr", [0.1, 0.2, 0.3])
    tg.add([{"pr": 0.2}], "ps", [0.01, 0.02])      # only the pr=0.2 set doubles
    assert [(p["pr"], p["ps"]) for p in tg.pms] == [
        (0.1, 0.014), (0.2, 0.01), (0.2, 0.02), (0.3, 0.014)]
    tg.add([{"pr": "*", "ps": 0.02}], "t", [7])    # '*' matches any pr
    assert [p["t"] for p in tg.pms] == [100.0, 100.0, 7, 100.0]
    tg.add([{"nE": 2.0}], "nI", [1])               # 2 == 2.0 matches
    assert all(p["nI"] == 1 for p in tg.pms)
    tg.add([{"pr": 0.5}], "t", [1, 2])             # no match: unchanged
    assert len(tg.pms) == 4
    with pytest.raises(ParameterError, match="did you mean 'scee'"):
        tg.add(tg.pms, "scee_mv", [1])
    with pytest.raises(ParameterError, match="did you mean 'neuron-model'"):
        tg.add([{"neuron_model": "*"}], "t", [1])


def test_generate_collapses_duplicates_and_reports_bad_sets():
    tg = task_generator(parameters())
    tg.add(tg.pms, "pr", [0.1, 0.1, 0.2, 0.10])
    assert len(tg.pms) == 4 and len(tg.generate()) == 2
    tg.add(tg.pms, "t", [-1, 5])
    with pytest.raises(ParameterError, match=r"parameter set 0: parameter 't'"):
        tg.generate()


def test_task_id_is_the_parameter_hash_and_stable_across_processes():
    pm = dict(parameters(), pr=0.3, nE=3, net=[[0, 1, 0], [0, 0, 1], [1, 0, 0]])
    task = Task(pm)
    code = ("from neunet import Task, parameters; "
            "pm = dict(parameters(), pr=0.3, nE=3, net=[[0, 1, 0], [0, 0, 1], [1, 0, 0]]); "
            "print(Task(pm).tid)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == task.tid
    assert Task(dict(pm, pr=0.30)).tid == task.tid
    assert Task(dict(pm, pr=0.31)).tid != task.tid
    with pytest.raises(ValueError, match="status"):
        Task(pm, status="done")


def test_grid_and_zipped():
    pm = parameters()
    tasks = grid(pm, neuron_model=["HH-GH", "LIF-G"], pr=[0.1, 0.2, 0.3])
    assert len(tasks) == 6
    assert {(t.pm["neuron-model"], t.pm["pr"]) for t in tasks} == {
        (m, p) for m in ("HH-GH", "LIF-G") for p in (0.1, 0.2, 0.3)}
    z = zipped(pm, pr=[0.1, 0.2], t=[10, 20])
    assert [(t.pm["pr"], t.pm["t"]) for t in z] == [(0.1, 10), (0.2, 20)]
    with pytest.raises(ValueError, match="equal lengths"):
        zipped(pm, pr=[0.1], t=[1, 2])
    tg = task_generator(pm).grid(nE=[1, 2]).zip(pr=[0.1, 0.2], ps=[0.01, 0.02])
    assert len(tg.generate()) == 4


@pytest.mark.parametrize("ext", ["json", "msgpack"])
def test_task_files_roundtrip(tmp_path, ext):
    from scipy import sparse
    tasks = grid(dict(parameters(), nE=2, net=sparse.csr_matrix(np.array([[0, 1.0], [0, 0]]))),
                 pr=[0.1, 0.2], seed=[None, [1, 2]])
    tasks[0].status, tasks[0].assigned_to, tasks[0].time[2] = "finished", ["w1"], 1.5
    tasks[0].data = {"mean_rate": 3.0}
    path = tmp_path / f"tasks.{ext}"
    tasks_mod.save_tasks(path, tasks)
    back = tasks_mod.load_tasks(path)
    assert [t.tid for t in back] == [t.tid for t in tasks]
    assert back[0].status == "finished" and back[0].assigned_to == ["w1"]
    assert back[0].time == tasks[0].time and back[0].data == {"mean_rate": 3.0}
    d = tasks[1].to_dict()
    json.dumps(d)
    assert Task.from_dict(d).tid == tasks[1].tid


def test_task_file_with_edited_parameters_is_refused(tmp_path):
    path = tmp_path / "t.json"
    tasks_mod.save_tasks(path, [Task(parameters())])
    body = json.loads(path.read_text())
    body["tasks"][0]["pm"]["t"] = 5.0
    path.write_text(json.dumps(body))
    with pytest.raises(ValueError, match="does not match"):
        tasks_mod.load_tasks(path)
    with pytest.raises(ValueError, match="extension"):
        tasks_mod.save_tasks(tmp_path / "t.txt", [])


def test_task_lists_say_what_varies():
    from neunet import grid, parameters
    from neunet.sweep.display import TaskList
    pm = parameters()
    pm.update(nE=2, nI=0, t=50.0)
    tasks = grid(pm, pr=[0.5 + 0.1 * i for i in range(6)], **{"neuron-model": ["LIF-GH",
                                                                              "HH-GH"]})
    assert isinstance(tasks, TaskList) and len(tasks) == 12 and tasks[0].pm["nE"] == 2
    text = repr(tasks)
    assert text.startswith("TaskList of 12 tasks; varying ")
    assert "neuron-model HH-GH, LIF-GH" in text and "pr 0.5..1.0 (6 values)" in text
    assert "estimated" in text and "seed" not in text
    page = tasks._repr_html_()
    assert "<th>neuron-model</th><th>pr</th>" in page and "4 more" in page
    assert repr(TaskList()) == "TaskList([])"
