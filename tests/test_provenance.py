"""Provenance of a run directory: run meta, derived seeds, result hashes (real coordinator)."""
import json
import sqlite3
import subprocess

import numpy as np
import pytest
from dist_helpers import PY, env, free_port, write_tasks

from neunet.sweep import provenance

pytestmark = pytest.mark.timeout(300)


def _coordinator(tasks_py, run_dir, *args):
    cmd = [PY, "-m", "neunet.coordinator", str(tasks_py), "--run-dir", str(run_dir),
           "--port", str(free_port()), "--local-slots", "1", *args]
    return subprocess.run(cmd, env=env(), capture_output=True, text=True, timeout=240,
                          cwd=str(tasks_py.parent))


def _db(run_dir):
    return sqlite3.connect(f"file:{run_dir / 'index.sqlite'}?mode=ro", uri=True)


def test_derive_seed_depends_on_sweep_seed_and_tid_only():
    a = provenance.derive_seed(0, "abc")
    assert a == provenance.derive_seed(0, "abc") and 0 <= a < 2 ** 32
    assert a != provenance.derive_seed(1, "abc") and a != provenance.derive_seed(0, "abd")
    assert provenance.with_seed({"seed": [7]}, 0, "abc") == {"seed": [7]}
    assert provenance.with_seed({"seed": None}, 0, "abc") == {"seed": [a]}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("prov")
    tasks = write_tasks(tmp / "sweep.py", 3, extra="pm2 = dict(tasks[0].pm, seed=[5])\n"
                        "tasks.append(pm2)\nfilter = {'keep': ['ras']}\n"
                        "tasks.append(dict(tasks[0].pm, pr=0.0))  # silent: NaN stats\n")
    proc = _coordinator(tasks, tmp / "run")
    assert proc.returncode == 0, proc.stderr
    return tasks, tmp / "run"


def test_run_records_versions_command_seeds_and_hashes(finished_run):
    tasks, run_dir = finished_run
    db = _db(run_dir)
    meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
    prov = json.loads(meta["provenance"])
    assert json.loads(meta["neunet_version"]) == prov["neunet_version"] == "0.1.0"
    assert prov["git_commit"] and len(prov["git_commit"]) == 40 and prov["git_dirty"] in (
        True, False)
    assert prov["numpy"] and prov["numba"] and prov["python"]
    assert prov["command"][1:4] == ["-m", "neunet.coordinator", str(tasks)]
    rows = db.execute("SELECT tid, params, status, result_hash, worker FROM tasks").fetchall()
    assert len(rows) == 5 and all(r[2] == "finished" and len(r[3]) == 64 and r[4] for r in rows)
    seeds = {r[0]: json.loads(r[1])["seed"] for r in rows}
    assert sorted(s for s in seeds.values()).count([5]) == 1  # the explicit seed is kept
    for tid, seed in seeds.items():
        assert seed == [5] or seed == [provenance.derive_seed(0, tid)]


def test_rerun_matches_every_task_the_slots_stored(finished_run):
    """The slot process and `neunet.rerun` hash through one pipeline (sweep.task_run): every
    task matches, the silent one too, whose summary holds non-numbers (NaN statistics)."""
    from neunet.sweep.rerun import rerun
    _, run_dir = finished_run
    rows = _db(run_dir).execute("SELECT tid, summary, params FROM tasks").fetchall()
    silent = [tid for tid, _, pm in rows if not any(np.atleast_1d(json.loads(pm)["pr"]))]
    assert len(silent) == 1
    summary = json.loads(dict((t, s) for t, s, _ in rows)[silent[0]])
    assert any(not isinstance(v, float) or v != v for v in summary.values()), summary
    for tid, _, _ in rows:
        match, stored, new = rerun(run_dir, tid)
        assert match, (tid, stored, new)


def test_rerun_matches_then_detects_a_changed_hash(finished_run, tmp_path):
    _, run_dir = finished_run
    tids = sorted(r[0] for r in _db(run_dir).execute("SELECT tid FROM tasks"))
    tid = tids[0]
    prefix = next(tid[:n] for n in range(1, 17) if sum(t.startswith(tid[:n]) for t in tids) == 1)
    cmd = [PY, "-m", "neunet.rerun", str(run_dir), prefix]  # a unique prefix names the task
    ok = subprocess.run(cmd, env=env(), capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and ok.stdout.startswith(f"{tid}: match"), ok.stderr
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-r", str(run_dir), str(copy)], check=True)
    db = sqlite3.connect(copy / "index.sqlite")
    db.execute("UPDATE tasks SET result_hash = 'x' WHERE tid = ?", (tid,))
    db.commit()
    db.close()
    bad = subprocess.run([PY, "-m", "neunet.rerun", str(copy), tid], env=env(),
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "MISMATCH" in bad.stdout
    for args in ([str(run_dir), "nope"], [str(tmp_path), tid], [str(run_dir)]):
        usage = subprocess.run([PY, "-m", "neunet.rerun", *args], env=env(),
                               capture_output=True, text=True, timeout=60)
        assert usage.returncode == 2 and len(usage.stderr.strip().splitlines()) == 1


def test_restart_reports_changes_and_refuses_another_version(finished_run, tmp_path):
    tasks, run_dir = finished_run
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-r", str(run_dir), str(copy)], check=True)
    db = sqlite3.connect(copy / "index.sqlite")
    db.execute("UPDATE meta SET value = '\"0.0.1\"' WHERE key = 'neunet_version'")
    db.commit()
    db.close()
    refused = _coordinator(tasks, copy)
    assert refused.returncode == 2 and "--allow-version-change" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    changed = write_tasks(tmp_path / "sweep.py", 2,
                          extra="tasks = tasks[1:] + grid(pm, pr=[0.9])\n")
    ok = _coordinator(changed, copy, "--allow-version-change")
    assert ok.returncode == 0, ok.stderr
    assert "1 tasks kept, 1 new, 4 no longer listed" in ok.stderr


