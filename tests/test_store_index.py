"""Tests of neunet.store.index: the index is created whole and a damaged one is refused."""
import os
import subprocess
import sys
import textwrap
import time

import pytest

from neunet.store import RunStore, StoreError, open_run
from neunet.store.index import CorruptIndexError


def _tasks(n):
    return [{"tid": f"t{i:05d}", "pm": {"pr": i}, "est_cost": 1.0, "est_s": 1.0}
            for i in range(n)]


def _finished_run(run_dir, n=50):
    store = RunStore(run_dir)
    store.sync_tasks(_tasks(n))
    paths = [store.write_data(f"t{i:05d}", {"x": [float(i)]}) for i in range(3)]
    store.record_results([(f"t{i:05d}", {"mean_rate": 1.0}, 0.1, "w", paths[i] if i < 3
                           else None) for i in range(n // 2)])
    store.close()
    return run_dir


@pytest.mark.parametrize("damage, message", [
    (lambda p: p.write_bytes(b""), r"is empty \(0 bytes"),
    (lambda p: p.write_bytes(b"garbage" * 100), "is not an SQLite database"),
    (lambda p: _scramble(p, 4096), r"is damaged \(database disk image is malformed"),
    (lambda p: p.unlink(), "holds results in data/ but no index.sqlite"),
])
def test_a_damaged_index_is_refused_by_writer_and_reader(tmp_path, damage, message):
    run_dir = _finished_run(tmp_path / "run", n=3000)
    index = run_dir / "index.sqlite"
    damage(index)
    before = index.read_bytes() if index.exists() else None
    with pytest.raises(CorruptIndexError, match=message):
        RunStore(run_dir)
    if before is not None:
        with pytest.raises(StoreError, match=message):
            open_run(run_dir)
        assert index.read_bytes() == before  # nothing written over it
    else:
        assert not index.exists()  # no fresh index that would run every task again


def _scramble(path, keep):
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        fh.seek(keep)
        fh.write(os.urandom(size - keep - 4096))


def test_an_index_without_tasks_table_is_no_run(tmp_path):
    import sqlite3
    (tmp_path / "run").mkdir()
    db = sqlite3.connect(tmp_path / "run" / "index.sqlite")
    db.execute("CREATE TABLE other (x)")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match=r"is not a run index \(no such table: tasks"):
        open_run(tmp_path / "run")


_CREATOR = textwrap.dedent("""
    import sys
    from neunet.store import RunStore
    for i in range(int(sys.argv[2])):
        RunStore(f"{sys.argv[1]}/run{i}").close()
        print(i, flush=True)
""")


def test_a_reader_never_sees_an_index_without_its_tables(tmp_path):
    """A reader polling run directories while another process creates them: as soon as an
    index file exists, open_run works (it used to say 'no such table: tasks' now and then)."""
    n = 40
    proc = subprocess.Popen([sys.executable, "-c", _CREATOR, str(tmp_path), str(n)],
                            stdout=subprocess.PIPE, text=True)
    try:
        opened = 0
        deadline = time.monotonic() + 120
        while opened < n and time.monotonic() < deadline:
            if (tmp_path / f"run{opened}" / "index.sqlite").exists():
                assert len(open_run(tmp_path / f"run{opened}")) == 0
                opened += 1
        assert opened == n
    finally:
        proc.kill()
        proc.wait()
    assert not list(tmp_path.glob("run*/.index.sqlite*"))  # no temp files left
