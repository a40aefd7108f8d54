"""Owns `neunet.run`: one call that runs a sweep on this machine or on a Dask cluster.

Every executor writes the same run directory (`neunet.store`), so `neunet.run` returns the
same `open_run` reader whichever ran the sweep, and a run directory started by one executor
can be finished by another (finished tasks are never run again).

- ``"local"``: the built-in coordinator with local workers, as a subprocess
  (``python -m neunet.coordinator TASKS.py --local-slots N --run-dir DIR``) fed a temporary
  TASKS.py that loads the tasks from a JSON file written by `neunet.sweep.tasks.save_tasks`.
- a ``dask.distributed.Client``, or a Dask scheduler address (``tcp://host:8786``,
  ``tls://...``, ``dask://host:port``): `neunet.runner.dask.executor.run_on_dask`.
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from neunet.runner.exits import EXIT_INTERRUPTED

# URL schemes taken as a Dask scheduler address (dask:// is rewritten to tcp://).
DASK_SCHEMES = ("tcp://", "tls://", "ucx://", "ws://", "wss://", "dask://")
# Parent directory of the default run directory (as the coordinator's `runs/<name>`).
DEFAULT_RUNS_DIR = "runs"
# Lines of the coordinator's stderr quoted when it exits with a usage error.
STDERR_TAIL_LINES = 5
# Seconds the coordinator gets to stop cleanly after ctrl-c before it is killed.
STOP_TIMEOUT_S = 30.0


class ExecutorError(RuntimeError):
    """The sweep could not be started or run by the chosen executor."""


def _as_tasks(tasks) -> list:
    """Task objects from a list of Task or of parameter dicts (duplicates collapse)."""
    from neunet.sweep.tasks import Task

    out, seen = [], set()
    for item in tasks:
        task = item if isinstance(item, Task) else Task(item)
        if task.tid not in seen:
            seen.add(task.tid)
            out.append(task)
    if not out:
        raise ValueError("neunet.run: the sweep has no tasks")
    return out


def default_run_dir(tasks) -> Path:
    """`runs/sweep-<hash of the sorted tids>`: the same sweep finds (and resumes) its run dir."""
    digest = hashlib.sha256("\n".join(sorted(t.tid for t in tasks)).encode()).hexdigest()
    return Path(DEFAULT_RUNS_DIR) / f"sweep-{digest[:12]}"


def run(tasks, run_dir=None, executor="local", filter=None, retries: int = 2,
        slots: int | None = None, progress=True, dashboard: bool = True):
    """Run a sweep and return its run directory's reader.

    Parameters
    ----------
    tasks : list of neunet.Task or of parameter dicts
        The sweep (from `task_generator(...).generate()`, `grid`, or plain dicts).
    run_dir : str or path, optional
        The run directory; default ``runs/sweep-<hash of the task ids>``. Running the same
        call again resumes it: finished tasks are not run again.
    executor : "local", dask.distributed.Client or str
        Where to run: this machine (the built-in coordinator with local workers) or a Dask
        cluster (a client or a scheduler address such as ``tcp://scheduler:8786``). For
        remote neunet workers run ``python -m neunet.coordinator TASKS.py`` (docs/cluster.md).
    filter : dict, optional
        The smart filter (the same dict a TASKS.py defines as ``filter``).
    retries : int
        Extra attempts for a task whose simulation fails.
    slots : int, optional
        Local worker slots for ``"local"`` (default: the number of CPUs).
    progress : bool or callable
        True (default): a progress bar (``tqdm.auto``: a widget in Jupyter, text in a
        terminal) with the finished, failed and running counts; False: none; a callable:
        called with a dict of counts (total, finished, failed, running, queued) instead.
    dashboard : bool
        Serve the live web dashboard while the sweep runs and print its URL (default).

    Returns
    -------
    neunet.store.Run
        ``open_run(run_dir)``: ``.table()``, ``.query()``, ``.load(tid)``, ``.failures()``.

    Raises
    ------
    ValueError
        Unknown executor, bad filter, empty sweep.
    ExecutorError
        The coordinator refused to start (its message is quoted).
    neunet.runner.dask.executor.DaskNotInstalled
        A Dask executor without dask.distributed installed (``pip install neunet[dask]``).
    """
    from neunet import params
    from neunet.analysis import filters
    from neunet.store import open_run

    tasks = _as_tasks(tasks)
    spec = filters.compile_filter(filter, param_names=params.KEYS)
    run_dir = Path(run_dir) if run_dir is not None else default_run_dir(tasks)
    kind, target = classify_executor(executor)
    if kind == "local":
        _run_local(tasks, filter, run_dir, retries, slots, progress, dashboard)
    else:
        _run_dask(tasks, spec, run_dir, target, retries, progress, dashboard)
    return open_run(run_dir)


def _run_dask(tasks, spec, run_dir: Path, target, retries: int, progress, dashboard: bool):
    """Run the sweep on Dask here, with a progress bar and a dashboard thread."""
    from neunet.runner.dask.executor import run_on_dask
    from neunet.store import RunStore
    from neunet.sweep.progress import SweepProgress

    bar = SweepProgress(len(tasks)) if progress is True else None
    callback = bar.update if bar is not None else (progress if callable(progress) else None)
    stop = None
    with RunStore(run_dir) as store:
        if dashboard:  # the index exists now: the dashboard thread can read it
            from neunet.runner.dashboard.embed import serve_in_thread
            _, stop = serve_in_thread(run_dir, stream=sys.stdout)
        try:
            run_on_dask(tasks, spec, store, target, retries=retries, progress=callback)
        finally:
            if bar is not None:
                bar.close()
            if stop is not None:
                stop()


def classify_executor(executor) -> tuple[str, object]:
    """Return ("local", None) or ("dask", client_or_address).

    Raises
    ------
    ValueError
        For anything else, with the accepted forms.
    """
    if isinstance(executor, str):
        if executor == "local":
            return "local", None
        if executor.startswith("dask://"):
            return "dask", "tcp://" + executor[len("dask://"):]
        if executor.startswith(DASK_SCHEMES):
            return "dask", executor
    elif type(executor).__name__ == "Client" and hasattr(executor, "submit"):
        return "dask", executor
    raise ValueError(f"unknown executor {executor!r}: use 'local', a dask.distributed.Client, "
                     "or a Dask scheduler address (tcp://host:8786); for remote neunet workers "
                     "run `python -m neunet.coordinator TASKS.py`")


def _tasks_script(tasks_json: Path, user_filter) -> str:
    """The text of a TASKS.py that loads the sweep from `tasks_json` and sets the filter."""
    return ("# Written by neunet.run for the built-in coordinator.\n"
            "import json\n"
            "from neunet.sweep.tasks import load_tasks\n"
            f"tasks = load_tasks({str(tasks_json)!r})\n"
            f"filter = json.loads({json.dumps(user_filter)!r})\n")


def _run_local(tasks, user_filter, run_dir: Path, retries: int, slots: int | None,
               progress=True, dashboard: bool = True) -> int:
    """Run the sweep through `python -m neunet.coordinator` with local workers, following it
    with a progress bar (see `run`) and printing its dashboard's URL."""
    from neunet.sweep.tasks import save_tasks

    slots = int(slots) if slots is not None else (os.cpu_count() or 1)
    if slots < 1:
        raise ValueError(f"slots must be >= 1, got {slots}")
    with tempfile.TemporaryDirectory(prefix="neunet-run-") as tmp:
        tasks_json = Path(tmp) / "tasks.json"
        save_tasks(tasks_json, tasks)
        script = Path(tmp) / "TASKS.py"
        script.write_text(_tasks_script(tasks_json, user_filter))
        cmd = [sys.executable, "-m", "neunet.coordinator", str(script),
               "--local-slots", str(slots), "--run-dir", str(Path(run_dir).absolute()),
               "--port", "0", "--retries", str(int(retries))]
        cmd += [] if dashboard else ["--no-dashboard"]
        with open(Path(tmp) / "stderr.txt", "w+") as err:
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
            status = _wait(proc, _watcher(run_dir, len(tasks), proc.pid, progress))
            err.seek(0)
            tail = "\n".join(err.read().strip().splitlines()[-STDERR_TAIL_LINES:])
    if status == EXIT_INTERRUPTED:
        raise KeyboardInterrupt(f"the coordinator was stopped; run again to resume {run_dir}")
    if status not in (0, 1):
        raise ExecutorError(f"the coordinator exited with status {status}: {tail}")
    return status


def _watcher(run_dir, total: int, pid: int, progress):
    """What follows a local sweep: its progress (see `run`) and its dashboard's URL."""
    from neunet.sweep.progress import RunWatcher
    return RunWatcher(run_dir, total, pid, progress=progress if callable(progress)
                      else bool(progress))


def _wait(proc: subprocess.Popen, watcher=None) -> int:
    """Wait for the coordinator (showing its progress); on ctrl-c let it stop cleanly (SIGINT),
    then re-raise."""
    try:
        while proc.poll() is None:
            if watcher is not None:
                watcher.poll()
            try:
                proc.wait(timeout=0.1)
            except subprocess.TimeoutExpired:
                pass
        return proc.returncode
    except KeyboardInterrupt:
        try:  # a terminal's ctrl-c reached it too; a notebook's did not
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        raise
    finally:
        if watcher is not None:
            watcher.close()
