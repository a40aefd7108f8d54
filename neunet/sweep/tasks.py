"""Tasks of a sweep: task_generator, Task (tid = parameter hash), grid/zipped, task files.

A `Task` is one parameter set with a deterministic id (`params_hash.param_hash`), a status among
the seed's states, the workers it was assigned to, its time estimate and, once finished, its
data. `task_generator` multiplies a prototype parameter set by masks as the original
interface did; `grid` and `zipped` are shortcuts. `time_cost` (`neunet.sweep.cost`)
estimates each task's cost when it is created. Light: no numba.
"""
from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np

from neunet import params
from neunet.atomic import atomic_write
from neunet.params import hashing as params_hash
from neunet.store.schema import STATES
from neunet.sweep.cost import _time_cost, time_cost  # noqa: F401  (time_cost is public here)
from neunet.sweep.display import TaskList

# The task states, in their usual order (the store's one list).
STATUSES = STATES
# Task file format tag and version.
TASK_FILE_FORMAT, TASK_FILE_VERSION = "neunet-tasks", 1
# Wildcard that matches any value in a task_generator mask.
ANY = "*"


class Task:
    """One simulation of a sweep.

    Parameters
    ----------
    pm : Mapping
        Parameters (validated; the task id is their hash).
    status : str
        One of `STATUSES`.
    assigned_to : list, optional
        Workers the task was given to (several with speculative copies).
    time : list, optional
        ``[estimated cost, estimated seconds, real seconds]``; estimated from `time_cost`
        when not given.
    data : object, optional
        The result, once finished.
    """

    __slots__ = ("assigned_to", "data", "pm", "status", "tid", "time")

    def __init__(self, pm, status="not-assigned", assigned_to=None, time=None, data=None,
                 tid=None):
        validated = params.validate(pm)
        if status not in STATUSES:
            raise ValueError(f"unknown task status {status!r}{params.suggest(status, STATUSES)}")
        self.pm = _filled(pm)
        self.tid = params_hash.hash_validated(validated)
        if tid is not None and tid != self.tid:
            raise ValueError(f"task id {tid!r} does not match its parameters (hash {self.tid!r}); "
                             f"the file was edited or written by another neunet version")
        self.status = status
        self.assigned_to = list(assigned_to or [])
        self.time = list(time) if time is not None else [*_time_cost(validated), None]
        self.data = data

    def to_dict(self) -> dict:
        """Plain (JSON/msgpack-safe) form; `data` is included only if it is plain itself."""
        out = {"tid": self.tid, "pm": params.plain(self.pm), "status": self.status,
               "assigned_to": list(self.assigned_to), "time": list(self.time)}
        if self.data is not None:
            try:
                json.dumps(self.data, allow_nan=True)
                out["data"] = self.data
            except TypeError:
                pass
        return out

    @classmethod
    def from_dict(cls, d: dict) -> Task:
        """Rebuild a task from `to_dict` output (checks that tid matches the parameters)."""
        return cls(d["pm"], status=d.get("status", "not-assigned"),
                   assigned_to=d.get("assigned_to"), time=d.get("time"), data=d.get("data"),
                   tid=d.get("tid"))

    def __repr__(self):
        return (f"Task({self.tid}, {self.pm.get('neuron-model')}, status={self.status!r}, "
                f"est_s={self.time[1]!r})")

    def __eq__(self, other):
        return isinstance(other, Task) and self.tid == other.tid

    def __hash__(self):
        return hash(self.tid)


def _filled(pm) -> dict:
    """The user's values with the defaults filled in for missing keys."""
    out = params.parameters()
    out.update(pm)
    return out


def _match_value(value):
    """A hashable form of a parameter value for mask matching (1 == 1.0, arrays by content)."""
    if isinstance(value, str) or value is None:
        return value
    if isinstance(value, (bool, np.bool_)):
        return ("bool", bool(value))
    if np.ndim(value) == 0 and not params.is_sparse(value):
        try:
            return float(value)
        except (TypeError, ValueError):
            return repr(value)
    if params.is_sparse(value):
        return ("sparse", params_hash.matrix_digest(value))
    return ("array", np.shape(value), np.asarray(value, dtype=float).tobytes())


class TaskGenerator:
    """Multiplies a prototype parameter set into many (the seed's ``task_generator``).

    Parameters
    ----------
    pm : Mapping
        The prototype; `pms` starts as ``[copy of pm]``.
    """

    def __init__(self, pm):
        params.validate(pm)
        self.pms = [dict(pm)]

    def add(self, masks, target, values):
        """Replace `target` by each of `values` in every set matching one of `masks`.

        A mask matches a parameter set when every key of the mask has the same value in the
        set (``'*'`` matches anything); a set matched with k values becomes k sets in place.

        Returns
        -------
        TaskGenerator
            self, so calls can be chained.
        """
        self._check_key(target)
        values = list(values)
        index = self._mask_index(list(masks))
        expanded = []
        for pm in self.pms:
            if self._matches(pm, index):
                expanded.extend(dict(pm, **{target: v}) for v in values)
            else:
                expanded.append(pm)
        self.pms = expanded
        return self

    def grid(self, **axes):
        """Replace every set by the Cartesian product of the axes (``neuron_model=`` spells
        ``'neuron-model'``). Returns self."""
        axes = {self._check_key(_key(k)): list(v) for k, v in axes.items()}
        combos = list(itertools.product(*axes.values()))
        self.pms = [dict(pm, **dict(zip(axes, combo))) for pm in self.pms for combo in combos]
        return self

    def zip(self, **axes):
        """Replace every set by one set per position of the axes (all of equal length).
        Returns self."""
        axes = {self._check_key(_key(k)): list(v) for k, v in axes.items()}
        lengths = {len(v) for v in axes.values()}
        if len(lengths) > 1:
            raise ValueError(f"zipped axes must have equal lengths, got "
                             f"{ {k: len(v) for k, v in axes.items()} }")
        rows = list(zip(*axes.values()))
        self.pms = [dict(pm, **dict(zip(axes, row))) for pm in self.pms for row in rows]
        return self

    def generate(self) -> TaskList:
        """Validate every parameter set and return the tasks (a `TaskList`, a list that shows
        what varies; duplicates collapse)."""
        tasks, seen = TaskList(), set()
        for i, pm in enumerate(self.pms):
            try:
                task = Task(pm)
            except params.ParameterError as exc:
                raise params.ParameterError(f"parameter set {i}: {exc}") from None
            if task.tid not in seen:
                seen.add(task.tid)
                tasks.append(task)
        return tasks

    def __len__(self):
        return len(self.pms)

    @staticmethod
    def _check_key(key):
        if key not in params.KEYS:
            raise params.ParameterError(f"unknown parameter {key!r}"
                                        f"{params.suggest(key, params.KEYS)}")
        return key

    def _mask_index(self, masks):
        """Group masks by their set of non-wildcard keys: {keys: set of value tuples}."""
        index = {}
        for mask in masks:
            for key in mask:
                self._check_key(key)
            keys = tuple(sorted(k for k, v in mask.items() if not _is_any(v)))
            index.setdefault(keys, set()).add(tuple(_match_value(mask[k]) for k in keys))
        return index

    @staticmethod
    def _matches(pm, index) -> bool:
        defaults = params.parameters() if any(
            k not in pm for keys in index for k in keys) else pm
        for keys, wanted in index.items():
            got = tuple(_match_value(pm[k] if k in pm else defaults[k]) for k in keys)
            if got in wanted:
                return True
        return False


def _is_any(value) -> bool:
    return isinstance(value, str) and value == ANY


def _key(name: str) -> str:
    """Keyword spelling to parameter key: ``neuron_model`` -> ``'neuron-model'``."""
    if name in params.KEYS:
        return name
    hyphen = name.replace("_", "-")
    return hyphen if hyphen in params.KEYS else name


# The seed's name.
task_generator = TaskGenerator


def grid(pm, **axes) -> list:
    """Tasks for the Cartesian product of the axes, e.g. ``grid(pm, pr=[0.1, 0.2], nE=[1, 10])``."""
    return TaskGenerator(pm).grid(**axes).generate()


def zipped(pm, **axes) -> list:
    """Tasks taking the i-th value of every axis together (axes of equal length)."""
    return TaskGenerator(pm).zip(**axes).generate()


# ---------------------------------------------------------------- task files

def save_tasks(path, tasks) -> None:
    """Write tasks to a file, JSON (``.json``) or msgpack (``.msgpack``/``.mpk``), atomically."""
    path = Path(path)
    body = {"format": TASK_FILE_FORMAT, "version": TASK_FILE_VERSION,
            "tasks": [t.to_dict() for t in tasks]}
    if path.suffix in (".msgpack", ".mpk"):
        import msgpack
        data = msgpack.packb(body, use_bin_type=True)
    elif path.suffix == ".json":
        data = json.dumps(body, allow_nan=True).encode()
    else:
        raise ValueError(f"task file {path}: use a .json, .msgpack or .mpk extension")
    atomic_write(path, data)


def load_tasks(path) -> list:
    """Read tasks written by `save_tasks`."""
    path = Path(path)
    raw = path.read_bytes()
    if path.suffix in (".msgpack", ".mpk"):
        import msgpack
        body = msgpack.unpackb(raw, raw=False, strict_map_key=False)
    elif path.suffix == ".json":
        body = json.loads(raw)
    else:
        raise ValueError(f"task file {path}: use a .json, .msgpack or .mpk extension")
    if not isinstance(body, dict) or body.get("format") != TASK_FILE_FORMAT:
        raise ValueError(f"{path} is not a neunet task file")
    return TaskList(Task.from_dict(d) for d in body["tasks"])
