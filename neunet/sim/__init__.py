"""neunet.sim: the gen_neu-compatible simulator (CLI in __main__, in-process API in api).

``simulate``, ``SimInputError`` (bad input), ``SimulationError`` (a run that fails) and its
``SimUnstableError`` (a state that blew up) are imported lazily so that importing this
package (and ``python -m neunet.sim --help``) does not load numba.
"""
from __future__ import annotations

# Public name -> module defining it.
_LAZY = {"simulate": "neunet.sim.api", "SimInputError": "neunet.sim.options",
         "parse_argv": "neunet.sim.options", "SimulationError": "neunet.sim.errors",
         "SimUnstableError": "neunet.sim.errors"}

__all__ = sorted(_LAZY)


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'neunet.sim' has no attribute {name!r}")
    import importlib  # here: neunet-sim's client imports this package and nothing it needs
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
