"""A sweep's input: TASKS.py, or tasks given as values, -> seeded task rows and the filter.

`load_sweep` runs a TASKS.py (a local script, with runpy; it defines ``tasks`` and may define
``filter`` and ``seed``); `sweep_of` does the rest for tasks given as values (TASKS.py's, or
`neunet.lab`'s): every task becomes a `TaskRow`, a task without a seed gets one derived from
the sweep seed and its tid, and the filter is compiled. Anything invalid raises
`UsageError` with one line naming where it came from.
"""
from __future__ import annotations

import os
import runpy
from collections.abc import Mapping


class UsageError(Exception):
    """Bad command line or TASKS.py: reported as one line, exit status 2."""


def task_rows(tasks, source: str) -> list:
    """The `TaskRow` of each Task or parameter dict; UsageError if invalid."""
    from neunet.store.schema import TaskRow
    from neunet.sweep.tasks import Task
    if not isinstance(tasks, (list, tuple)):
        raise UsageError(f"{source}: `tasks` must be a list of Task or of parameter dicts, "
                         f"not {type(tasks).__name__}")
    rows = []
    for i, task in enumerate(tasks):
        try:
            if isinstance(task, Mapping):
                task = Task(dict(task))
            elif not isinstance(task, Task):
                raise ValueError(f"is a {type(task).__name__}, not a Task or a dict")
            cost, est_s = (list(task.time or []) + [None, None])[:2]
            rows.append(TaskRow(task.tid, task.pm, float(cost or 0), float(est_s or 0)))
        except (ValueError, TypeError, KeyError) as exc:
            raise UsageError(f"{source}: task {i}: {exc}") from None
    return rows


def load_sweep(path: str, sweep_seed: int | None = None) -> tuple[list, dict | None]:
    """Run TASKS.py; return its task rows and its compiled filter (None without one).

    A task without a seed gets one derived from the sweep seed (`sweep_seed`, else TASKS.py's
    `seed`, else 0) and its tid, which stays the hash of the parameters as the user gave them.
    """
    if not os.path.isfile(path):
        raise UsageError(f"no such file: {path}")
    try:
        ns = runpy.run_path(path, run_name="__neunet_tasks__")
    except BaseException as exc:  # the user's script: any failure is a usage error
        raise UsageError(f"{path} failed: {type(exc).__name__}: {exc}") from None
    if "tasks" not in ns:
        raise UsageError(f"{path} defines no `tasks`")
    sweep_seed = ns.get("seed", 0) if sweep_seed is None else sweep_seed
    return sweep_of(ns["tasks"], ns.get("filter"), sweep_seed, path)


def sweep_of(tasks, user_filter, sweep_seed: int, source: str) -> tuple[list, dict | None]:
    """Task rows (seeded as `load_sweep` says) and the compiled filter of a sweep given as
    values (TASKS.py's, or `neunet.lab`'s); UsageError naming `source` if invalid."""
    rows = task_rows(tasks, source)
    if isinstance(sweep_seed, bool) or not isinstance(sweep_seed, int) or sweep_seed < 0:
        raise UsageError(f"{source}: the sweep seed must be an integer >= 0, "
                         f"not {sweep_seed!r}")
    from neunet.sweep.provenance import with_seed
    rows = [r._replace(pm=with_seed(r.pm, sweep_seed, r.tid)) for r in rows]
    spec = None
    if user_filter is not None:
        from neunet.analysis import filters
        try:
            spec = filters.compile_filter(user_filter)
        except filters.FilterError as exc:
            raise UsageError(f"{source}: invalid filter: {exc}") from None
    return rows, spec
