"""neunet: point-neuron network simulation from Python, and sweeps of it across machines.

Public names are imported lazily, so light users (the coordinator, the store reader) never
load numba.

The package follows its two one-way flows, and a module imports only from its own stage or an
earlier one (tests/test_layout.py checks it):

    sim (the simulator; imports nothing else)  ->  params (imports only sim.models)
      ->  result, live  ->  single (gen_neu, simulate)  ->  analysis (summary, filters)
      ->  store.npz / digest / schema (a result's format)  ->  sweep (tasks, cost, task_run)
      ->  store (writer, reader)  ->  runner.wire  ->  runner.worker | coordinator | dask
      ->  sweep.executors (neunet.run), sweep.rerun  ->  the command lines and neunet.plot

The worker and the coordinator share only the wire; the coordinator never imports numba;
nothing imports `neunet.plot` but its command line and user code.
"""
from __future__ import annotations

__version__ = "0.1.0"

# Public name -> module that defines it.
_LAZY = {
    "parameters": "neunet.params",
    "describe": "neunet.params.docs",
    "gen_neu": "neunet.single",
    "simulate": "neunet.single",
    "Result": "neunet.result",
    "task_generator": "neunet.sweep.tasks",
    "TaskGenerator": "neunet.sweep.tasks",
    "Task": "neunet.sweep.tasks",
    "grid": "neunet.sweep.tasks",
    "zipped": "neunet.sweep.tasks",
    "time_cost": "neunet.sweep.tasks",
    "open_run": "neunet.store",
    "run": "neunet.sweep.executors",
    "lab": "neunet.lab",
    "Lab": "neunet.lab",
    "Servant": "neunet.lab",
    "servant_machine": "neunet.lab",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'neunet' has no attribute {name!r}")
    import importlib  # here: neunet-sim's client imports this package and nothing it needs
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
