"""Dispatch figures of neunet's Dask executor: the third column of benchmarks/dispatch.py.

The same sweeps as `benchmarks/dispatch.py`, run through `neunet.runner.dask.executor.run_on_dask`
(what `neunet.run(..., executor=client)` and `python -m neunet.coordinator --dask` use) on a
LocalCluster of 2 single-threaded worker processes, writing a real run directory:

(a) throughput of 1000 tiny simulations (1 neuron, t = 10 ms), LocalCluster start to close;
    also the warm rate (cluster up, kernels loaded): the executor's cost per task;
(b) makespan of 40 tasks whose t spreads 50x over its lower bound max(total/2, longest),
    from the run directory's started/finished/real_s (as for neunet's own runner);
(c) a hung worker: Dask's business here (its worker-ttl), not run;
(d) one 50 MB result, Dask worker -> client -> run directory: GB/s from the end of the
    computation on the worker (Dask's task stream) until it is stored, and the client's peak
    RSS growth meanwhile;
(e) 100,000 tasks: seconds from the call (Task objects built) until the first task is
    submitted to Dask, and the client's peak RSS.

`COLUMN` maps figure letters to functions(workdir) -> {"value", "text", ...}, the shape of
`dispatch.EXECUTORS` entries. Standalone: ``python benchmarks/dispatch_dask_exec.py
[--only abde] [--quick]`` prints this column alone.
"""
from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

# Workload sizes (as dispatch.py's; --quick divides them).
SIZES = {"tiny": 1000, "hetero": 40, "scale": 100_000}
# Spread of t (ms) of figure (b), and figure (d)'s 10 neurons x 625,000 samples = 50 MB.
T_MIN_MS, T_MAX_MS = 100.0, 5000.0
BIG_N, BIG_T_MS = 10, 19531.25


def _pm(**changes) -> dict:
    from neunet import parameters
    pm = parameters()
    pm.update({"nE": 1, "nI": 0})
    pm.update(changes)
    return pm


def _hetero_ts(n: int) -> list:
    ratio = (T_MAX_MS / T_MIN_MS) ** (1 / (n - 1))
    return [round(T_MIN_MS * ratio ** i, 3) for i in range(n)]


def _cluster(n_workers: int = 2):
    from distributed import Client, LocalCluster
    cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                           dashboard_address=":0")
    return cluster, Client(cluster)


def _warm_workers(client) -> None:
    import neunet
    client.run(neunet.simulate, _pm(t=10))


def _rss_mb() -> float:
    """Current resident memory of this process (Linux), MB."""
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * resource.getpagesize() / 1e6


def figure_a(work: Path) -> dict:
    from neunet.runner.dask.executor import run_on_dask
    from neunet.sweep.tasks import Task
    n = SIZES["tiny"]
    tasks = [Task(_pm(t=10, pr=0.5 + i * 1e-4)) for i in range(n)]
    warm = [Task(_pm(t=10, pr=0.6 + i * 1e-4)) for i in range(n)]
    t0_s = time.perf_counter()
    cluster, client = _cluster()
    run_on_dask(tasks, None, work / "dx_a", client)
    t1_s = time.perf_counter()
    run_on_dask(warm, None, work / "dx_a_warm", client)
    t2_s = time.perf_counter()
    client.close()
    cluster.close()
    cold_s = (t1_s - t0_s) + (time.perf_counter() - t2_s)
    warm_s = t2_s - t1_s
    return {"value": n / cold_s,
            "text": f"{n / cold_s:.0f} tasks/s ({cold_s:.1f} s); warm {n / warm_s:.0f}/s"}


def figure_b(work: Path) -> dict:
    from neunet.runner.dask.executor import run_on_dask
    from neunet.store import open_run
    from neunet.sweep.tasks import Task
    tasks = [Task(_pm(t=t)) for t in _hetero_ts(SIZES["hetero"])]
    cluster, client = _cluster()
    try:
        _warm_workers(client)
        run_on_dask(tasks, None, work / "dx_b", client)
    finally:
        client.close()
        cluster.close()
    table = open_run(work / "dx_b").table()
    makespan_s = table.finished.max() - table.started.min()
    bound_s = max(table.real_s.sum() / 2, table.real_s.max())
    return {"value": makespan_s / bound_s,
            "text": f"{makespan_s / bound_s:.3f} ({makespan_s:.2f} s / {bound_s:.2f} s)"}


def figure_c(work: Path) -> dict:
    import dask
    ttl = dask.config.get("distributed.scheduler.worker-ttl")
    return {"value": None, "text": f"Dask's (worker-ttl {ttl})"}


def figure_d(work: Path) -> dict:
    from distributed import get_task_stream

    from neunet.runner.dask.executor import run_on_dask
    from neunet.sweep.tasks import Task
    task = Task(_pm(nE=BIG_N, t=BIG_T_MS, pr=0.5))
    cluster, client = _cluster(1)
    peak = _PeakRss()
    try:
        client.run(__import__("neunet").simulate, _pm(nE=BIG_N, t=10))
        with get_task_stream(client) as stream, peak:
            run_on_dask([task], None, work / "dx_d", client)
            stored_at = time.time()
    finally:
        client.close()
        cluster.close()
    computed_at = max(s["stop"] for r in stream.data for s in r["startstops"]
                      if s["action"] == "compute")
    size_mb = (work / "dx_d" / "data" / f"{task.tid}.npz").stat().st_size / 1e6
    travel_s = max(stored_at - computed_at, 1e-9)
    return {"value": size_mb / 1e3 / travel_s, "size_mb": size_mb, "peak_mb": peak.grown_mb,
            "text": f"{size_mb / 1e3 / travel_s:.2f} GB/s, +{peak.grown_mb:.0f} MB for "
                    f"{size_mb:.0f} MB"}


class _PeakRss:
    """Context manager sampling this process's RSS every 5 ms; `grown_mb` = peak - start."""

    def __enter__(self):
        import threading
        self.start_mb = self.peak_mb = _rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.005):
            self.peak_mb = max(self.peak_mb, _rss_mb())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.grown_mb = self.peak_mb - self.start_mb


def _close_quietly(*closables) -> None:
    """Close Dask objects; a close that times out (100,000 futures still being cancelled)
    is reported on stderr, not a reason to lose the figure."""
    for obj in closables:
        try:
            obj.close(timeout=30)
        except Exception as exc:
            print(f"dispatch_dask_exec: closing {type(obj).__name__} failed: {exc}",
                  file=sys.stderr)


def figure_e(work: Path) -> dict:
    from neunet.runner.dask.executor import run_on_dask
    from neunet.sweep.tasks import Task
    n = SIZES["scale"]
    t0_s = time.perf_counter()
    tasks = [Task(_pm(t=10, pr=0.5 + i * 1e-6)) for i in range(n)]
    cluster, client = _cluster()
    started = {}

    def stop_at_first_submission(counts):
        if counts["submitted"]:
            started["s"] = time.perf_counter() - t0_s - cluster_s
            raise KeyboardInterrupt

    cluster_s = time.perf_counter() - t0_s
    try:
        run_on_dask(tasks, None, work / "dx_e", client, progress=stop_at_first_submission)
    except KeyboardInterrupt:
        pass
    finally:
        _close_quietly(client, cluster)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start_s = started.get("s", float("nan"))
    return {"value": start_s, "peak_mb": peak_mb,
            "text": f"{start_s:.1f} s to first submit, peak {peak_mb:.0f} MB"}


# Figure letter -> function(workdir) -> {"value", "text", ...} (a dispatch.EXECUTORS entry).
COLUMN = {"a": figure_a, "b": figure_b, "c": figure_c, "d": figure_d, "e": figure_e}


def main(argv=None) -> int:
    """Print this executor's column; return 0."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", default="abcde", help="figures to run, e.g. 'ab'")
    p.add_argument("--quick", action="store_true", help="sizes / 10 (e: / 50), a smoke run")
    args = p.parse_args(argv)
    bad = [f for f in args.only if f not in COLUMN]
    if bad:
        print(f"dispatch_dask_exec.py: error: unknown figure(s) {bad}", file=sys.stderr)
        return 2
    if args.quick:
        SIZES.update(tiny=100, hetero=10, scale=2000)
    import neunet
    neunet.simulate(_pm(t=10))  # compile or load the kernels once, before any worker does
    for fig in args.only:
        with tempfile.TemporaryDirectory(prefix=f"neunet-bench-dx-{fig}-") as tmp:
            result = COLUMN[fig](Path(tmp))
        print(f"({fig}) neunet dask executor: {result['text']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
