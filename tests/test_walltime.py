"""Walltime-aware dispatch: parsing, the scheduler's fit rule, and a real short-lived worker."""
import signal
import subprocess
import time

import pytest
from dist_helpers import PY, env, free_port, stop, worker

import neunet
from neunet.runner.coordinator import scheduler as S
from neunet.runner.worker.walltime import allocation_end, parse_walltime

pytestmark = pytest.mark.timeout(300)


def test_parse_walltime_forms_and_errors():
    assert parse_walltime("4h") == 4 * 3600 and parse_walltime("90m") == 5400
    assert parse_walltime("3600") == 3600 and parse_walltime("1:30:00") == 5400
    assert parse_walltime("2-01:00:00") == 2 * 86400 + 3600 and parse_walltime("10:30") == 37800
    for bad in ("", "4x", "-1h", "0", "1:2:3:4"):
        with pytest.raises(ValueError, match="walltime"):
            parse_walltime(bad)


def test_allocation_end_takes_the_earlier_of_walltime_and_slurm():
    assert allocation_end(None, 100.0, {}) is None
    assert allocation_end("1m", 100.0, {}) == 160.0
    assert allocation_end("1h", 100.0, {"SLURM_JOB_END_TIME": "130"}) == 130.0
    assert allocation_end(None, 100.0, {"SLURM_JOB_END_TIME": "5000"}) == 5000.0


def test_scheduler_gives_only_tasks_that_fit_and_refines_its_scale():
    tasks = [("long", {}, 100.0, 50.0), ("short", {}, 1.0, 1.0)]
    sched = S.Scheduler(tasks, config=S.Config(walltime_margin=1.5))
    sched.handle(S.Join("w", "w", 2, 0.0))
    out = sched.handle(S.Request("w", 2, 0.0, left_s=60.0))  # 50 x 1.5 > 60: only short
    assert [t["tid"] for i in out if isinstance(i, S.Assign) for t in i.tasks] == ["short"]
    sched.handle(S.ResultIn("w", "short", 0.5, 1.0))  # ran twice as fast as estimated
    assert sched.time_scale() == 0.5
    out = sched.handle(S.Request("w", 2, 2.0, left_s=60.0))  # 50 x 0.5 x 1.5 fits now
    assert [t["tid"] for i in out if isinstance(i, S.Assign) for t in i.tasks] == ["long"]
    sched2 = S.Scheduler(tasks)
    sched2.handle(S.Join("u", "u", 2, 0.0))
    out = sched2.handle(S.Request("u", 2, 0.0))  # no walltime: everything
    assert sorted(t["tid"] for i in out if isinstance(i, S.Assign) for t in i.tasks) == [
        "long", "short"]


def test_worker_with_short_walltime_takes_only_fitting_tasks_and_exits_cleanly(tmp_path):
    sweep = tmp_path / "sweep.py"
    sweep.write_text(  # the last task is estimated at ~30 s: it cannot fit in 12 s
        "from neunet import parameters, grid\n"
        "pm = parameters(); pm['nE'] = 1; pm['nI'] = 0; pm['t'] = 20\n"
        "tasks = grid(pm, pr=[0.5, 0.6, 0.7]) + grid(pm, t=[2e6])\n")
    port = free_port()
    cmd = [PY, "-m", "neunet.coordinator", str(sweep), "--run-dir", str(tmp_path / "run"),
           "--port", str(port), "--local-slots", "0"]
    coord = subprocess.Popen(cmd, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True, cwd=str(tmp_path))
    w = worker(port, 1, "--walltime", "12s", "--drain", 2, "--name", "short")
    try:
        t0 = time.monotonic()
        assert w.wait(timeout=60) == 0
        assert time.monotonic() - t0 < 30
        coord.send_signal(signal.SIGINT)
        _, err = coord.communicate(timeout=60)
    finally:
        stop(coord, w)
    assert coord.returncode == 130, err
    table = neunet.open_run(tmp_path / "run").table().set_index("t")
    long_tasks = table.loc[20.0]
    assert (long_tasks.status == "finished").all() and (long_tasks.worker == "short").all()
    long = table.loc[2e6]
    assert long.status == "not-assigned" and long.attempts == 0
    assert neunet.open_run(tmp_path / "run").meta("time_scale") > 0
