"""Owns one task's run, the same wherever it runs: simulate -> filter -> encode -> hash.

A worker's slot process, a Dask worker and ``python -m neunet.rerun`` all call `run_task`, so a
result's summary, its .npz bytes and its `result_hash` are computed by one piece of code: the
summary in the form the store records and hashes (`neunet.store.schema.stored_summary`:
names are strings, values floats or None), the kept arrays encoded as the store's .npz
(`neunet.store.npz.npz_parts`, no joined copy), the hash over both
(`neunet.store.digest.result_hash`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True)
class TaskOutput:
    """What one task's run produced, ready to travel and to be stored."""
    summary: dict        # statistic -> float or None, as the store records and hashes it
    kept: dict | None    # the arrays the filter kept (None: it dropped the bulk data)
    npz_parts: list      # their .npz encoding, in parts (empty when nothing was kept)
    size: int            # bytes of that .npz (0: no data)
    digest: str          # result_hash(summary, kept): what `neunet.rerun` compares
    real_s: float        # seconds of simulation and filtering

    def npz_bytes(self) -> bytes | None:
        """The kept arrays' .npz as one bytes object (None when nothing was kept)."""
        return b"".join(self.npz_parts) if self.size else None


def run_task(pm, filter_spec=None, on_simulated=None) -> TaskOutput:
    """Simulate one task's parameters, reduce the result with the smart filter, encode, hash.

    Parameters
    ----------
    pm : Mapping
        The task's parameters (with the seed it runs with).
    filter_spec : dict, optional
        From `neunet.analysis.filters.compile_filter` (None: all statistics, keep all).
    on_simulated : callable, optional
        Called with the simulation's seconds once it is over, before filtering (a slot
        reports the ``filtering`` state from it).

    Returns
    -------
    TaskOutput

    Raises
    ------
    Exception
        Whatever the simulator or the filter raises (the task fails; nothing is returned).
    """
    from neunet.analysis import filters
    from neunet.single import simulate
    from neunet.store import npz
    from neunet.store.digest import result_hash
    from neunet.store.schema import stored_summary
    t0_s = time.perf_counter()
    result = simulate(pm, outputs=filters.recorded_outputs(filter_spec))
    if on_simulated is not None:
        on_simulated(time.perf_counter() - t0_s)
    summary, kept = filters.apply_filter(filter_spec, result, pm)
    summary = stored_summary(summary)
    kept = None if kept is None else {str(k): v for k, v in kept.items()}
    parts = npz.npz_parts(kept) if kept else []
    return TaskOutput(summary, kept, parts, sum(len(p) for p in parts),
                      result_hash(summary, kept), time.perf_counter() - t0_s)


def warm_up() -> None:
    """Load everything `run_task` needs (a 1 ms one-neuron run: the numba kernels come from
    the cache), so a warm process's first real task costs no imports."""
    from neunet import params
    pm = params.parameters()
    pm.update(nE=1, nI=0, t=1.0)
    run_task(pm)
