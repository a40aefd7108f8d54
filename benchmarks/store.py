"""Benchmark of the run store: table() and load() on a 10,000-task run, and filter data sizes.

Builds a synthetic run directory (default 10,000 tasks with the full default parameter set,
seven summary statistics and a kept .npz per task) in a temporary folder, then prints:

- ``table()`` time (target < 1 s) and ``query()`` time,
- ``load(tid)`` time of one task (median over random tasks, target < 50 ms),
- bytes sent back per task without a filter and with typical filters (a real simulation
  when the engine runs, else synthetic arrays of the same shape; the output says which).

Usage: ``.venv/bin/python benchmarks/store.py [--tasks 10000] [--keep DIR]``
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout too

from neunet.analysis import (
    filters,
    summary,
)
from neunet.result import Result
from neunet.store import RunStore, open_run
from neunet.store.npz import encode_arrays
from neunet.store.schema import to_json

# Targets of the issue (seconds).
TABLE_TARGET_S = 1.0
LOAD_TARGET_S = 0.050
# Neurons, samples and spikes of each synthetic task's kept data.
N_NEURONS, N_SAMPLES, N_SPIKES = 2, 1000, 100
# Parameters of the data-size figure: 10 HH neurons for 1 s.
SIZE_PM = {"neuron-model": "HH-GH", "nE": 8, "nI": 2, "t": 1000.0, "pr": 1.0, "ps": 0.02,
           "scee": 0.01, "scie": 0.01, "scei": 0.02, "scii": 0.02}
# Filters compared in the data-size figure.
FILTERS = {
    "no filter": None,
    "raster only": {"keep": ["ras"]},
    "volt of 2 neurons, 200 ms, every 8th sample": {
        "keep": ["volt", "ras"], "neurons": [1, 2], "window_ms": [400, 600], "downsample": 8},
    "keep_if false (summary only)": {"keep_if": "mean_rate > 1e9"},
}


def _base_pm() -> dict:
    try:
        from neunet import parameters

        return dict(parameters())
    except Exception:  # the interface is not importable: a similar 35-key mapping
        return {f"key-{i}": 0.1 * i for i in range(33)} | {"neuron-model": "HH-GH", "t": 800.0}


def build_run(run_dir: Path, n_tasks: int) -> float:
    """Write a synthetic run directory; return the seconds it took."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(0)
    base = _base_pm()
    models = ("HH-GH", "HH-PT-GH", "LIF-GH", "LIF-G")
    tasks = []
    for i in range(n_tasks):
        pm = dict(base, **{"neuron-model": models[i % 4], "pr": round(0.01 * (i // 4 % 100), 2),
                           "seed": i, "t": 800.0})
        tasks.append({"tid": f"{i:016x}", "pm": pm, "est_cost": float(i % 97), "est_s": 0.1})
    store = RunStore(run_dir)
    store.sync_tasks(tasks)
    batch = []
    for task in tasks:
        volt = rng.normal(size=(N_NEURONS, N_SAMPLES))
        ras = np.column_stack([rng.integers(1, N_NEURONS + 1, N_SPIKES),
                               np.sort(rng.uniform(0, 800, N_SPIKES))]).astype(float)
        res = Result.from_arrays({"volt": volt, "ras": ras, "isi": np.ones(N_NEURONS)},
                                 pm=task["pm"])
        stats = {k: float(v) for k, v in zip(summary.STATS, rng.random(len(summary.STATS)))}
        path = store.data_path(task["tid"])
        path.write_bytes(encode_arrays(res.to_arrays()))  # bulk setup: no fsync per file
        batch.append((task["tid"], stats, 0.1, "bench", path))
        if len(batch) == 1000:
            store.record_results(batch)
            batch = []
    store.record_results(batch)
    store.close()
    return time.perf_counter() - t0


def time_reader(run_dir: Path, n_tasks: int) -> dict:
    """Time table(), query() and load() on a fresh reader, as a user would."""
    t0 = time.perf_counter()
    import pandas  # noqa: F401  (a notebook has it loaded already: timed on its own)
    import_s = time.perf_counter() - t0
    times = []
    for _ in range(3):
        run = open_run(run_dir)  # a fresh reader each time: nothing cached
        t0 = time.perf_counter()
        df = run.table()
        times.append(time.perf_counter() - t0)
        assert len(df) == n_tasks
    table_s, table_again_s = statistics.median(times), max(times)
    pending_s = time_pending_table(run_dir.parent / "pending", n_tasks)
    t0 = time.perf_counter()
    picked = run.query("mean_rate > 0.5 and pr < 0.4 and neuron_model == 'HH-GH'", table=df)
    query_s = time.perf_counter() - t0
    rng = np.random.default_rng(1)
    loads = []
    for tid in rng.choice(df["tid"].to_numpy(), 50, replace=False):
        fresh = open_run(run_dir)  # no warm caches: each load as from a new session
        t0 = time.perf_counter()
        res = fresh.load(tid)
        loads.append(time.perf_counter() - t0)
        assert res.volt.shape == (N_NEURONS, N_SAMPLES)
    return {"table_s": table_s, "table_max_s": table_again_s, "import_s": import_s,
            "pending_s": pending_s,
            "query_s": query_s,
            "query_rows": len(picked), "load_median_s": statistics.median(loads),
            "load_max_s": max(loads), "columns": df.shape[1]}


def time_pending_table(run_dir: Path, n_tasks: int) -> float:
    """table() of a sweep that has just started: no task finished, parameters from JSON."""
    base = _base_pm()
    store = RunStore(run_dir)
    store.sync_tasks([{"tid": f"{i:016x}", "pm": dict(base, pr=0.01 * (i % 100), seed=i),
                       "est_cost": 1.0, "est_s": 0.1} for i in range(n_tasks)])
    store.close()
    t0 = time.perf_counter()
    assert len(open_run(run_dir).table()) == n_tasks
    return time.perf_counter() - t0


def _size_result():
    """(Result, source text): a real 10-neuron simulation if possible, else synthetic."""
    try:
        from neunet import parameters, simulate

        pm = dict(parameters(), **SIZE_PM)
        return simulate(pm), pm, "real simulation (HH-GH, 10 neurons, 1 s, dt 1/32 ms)"
    except Exception as err:  # engine not available
        rng = np.random.default_rng(2)
        k = int(SIZE_PM["t"] / 0.03125)
        ras = np.column_stack([rng.integers(1, 11, 400), np.sort(rng.uniform(0, 1000, 400))])
        pm = dict(_base_pm(), **SIZE_PM)
        arrays = {"volt": rng.normal(size=(10, k)), "ras": ras.astype(float),
                  "isi": np.ones(10)}
        return Result.from_arrays(arrays, pm=pm), pm, f"synthetic arrays ({err})"


def data_sizes() -> tuple[str, dict]:
    """Bytes per task sent back (kept .npz + summary JSON) for each filter in FILTERS."""
    res, pm, source = _size_result()
    sizes = {}
    for name, user_filter in FILTERS.items():
        stats, kept = filters.apply_filter(filters.compile_filter(user_filter), res, pm)
        bulk = len(encode_arrays(kept)) if kept is not None else 0
        sizes[name] = bulk + len(to_json(stats))
    return source, sizes


def main(argv=None) -> int:
    """Run the benchmark and print the figures."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", type=int, default=10_000, help="tasks in the synthetic run")
    p.add_argument("--keep", default=None, help="build the run here and keep it")
    args = p.parse_args(argv)
    tmp = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="neunet-store-"))
    try:
        build_s = build_run(tmp / "run", args.tasks)
        disk = sum(f.stat().st_size for f in (tmp / "run").rglob("*") if f.is_file())
        print(f"run directory: {args.tasks} tasks, {disk / 1e6:.0f} MB, built in {build_s:.1f} s")
        r = time_reader(tmp / "run", args.tasks)
        ok = lambda v, target: "OK" if v < target else "MISSED"
        print(f"table():  {r['table_s'] * 1000:7.1f} ms median of 3 fresh readers, max "
              f"{r['table_max_s'] * 1000:.1f} ms ({r['columns']} columns; target "
              f"< {TABLE_TARGET_S * 1000:.0f} ms: {ok(r['table_s'], TABLE_TARGET_S)}); "
              f"import pandas alone took {r['import_s'] * 1000:.0f} ms")
        print(f"table():  {r['pending_s'] * 1000:7.1f} ms on a sweep just started (no task "
              "finished: parameters parsed from JSON)")
        print(f"query():  {r['query_s'] * 1000:7.1f} ms  ({r['query_rows']} rows)")
        print(f"load():   {r['load_median_s'] * 1000:7.2f} ms median, "
              f"{r['load_max_s'] * 1000:.2f} ms max over 50 tasks (target "
              f"< {LOAD_TARGET_S * 1000:.0f} ms: {ok(r['load_median_s'], LOAD_TARGET_S)})")
        source, sizes = data_sizes()
        print(f"bytes sent back per task ({source}):")
        full = sizes["no filter"]
        for name, size in sizes.items():
            print(f"  {name:45s} {size:>10,d} B  ({full / size:8.1f}x less)")
        print(json.dumps({"table_s": r["table_s"], "load_s": r["load_median_s"],
                          "bytes_per_task": sizes}))
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
