"""Dispatch figures of neunet's Dask executor (the third column beside benchmarks/dispatch.py).

Runs the same sweeps as `benchmarks/dispatch.py` through `neunet.run(..., executor=client)`
(`neunet.dist.dask_exec.run_on_dask`) on a LocalCluster of 2 single-threaded worker processes:

(a) throughput of N tiny simulations (1 neuron, t = 10 ms), LocalCluster start to close,
    and the same once the cluster is up and warm (the executor's own cost per task);
(b) makespan of a heterogeneous sweep of 40 tasks (estimated costs spread 50x) divided by its
    lower bound max(total/2, longest), from the tasks' measured real seconds;
(e) a sweep of many tasks: seconds from the call until the first task is submitted, and the
    client's peak RSS.

(c) (a hung worker) is Dask's own business here (its timeouts, minutes) and (d) (one large
result) is Dask's transfer: this executor adds one copy of the `.npz` bytes to disk.

Usage: ``python benchmarks/dispatch_dask_exec.py [--tiny 1000] [--hetero 40] [--many 100000]``
(``--quick`` for a short check). Prints one line per figure; no thresholds are asserted here
except the targets printed beside each figure.
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# Target of figure (b): makespan / lower bound.
MAKESPAN_RATIO_TARGET = 1.05
# Target of figure (e): seconds until dispatch starts.
DISPATCH_START_TARGET_S = 10.0


def tiny_pm(seed: int, t_ms: float = 10.0) -> dict:
    """One LIF-GH neuron for t_ms."""
    from neunet import parameters
    pm = parameters()
    pm.update({"neuron-model": "LIF-GH", "nE": 1, "nI": 0, "t": t_ms, "pr": 0.5, "ps": 0.04,
               "seed": seed})
    return pm


def start_cluster():
    """A LocalCluster of 2 single-threaded worker processes and its client."""
    from distributed import Client, LocalCluster
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=None)
    return cluster, Client(cluster)


def figure_a(n_tasks: int) -> None:
    """Throughput of tiny simulations, cold (cluster start to close) and warm."""
    from neunet.dist.dask_exec import run_on_dask
    from neunet.tasks import Task
    tasks = [Task(tiny_pm(i)) for i in range(n_tasks)]
    warm = [Task(tiny_pm(n_tasks + i)) for i in range(n_tasks)]
    with tempfile.TemporaryDirectory() as tmp:
        t0_s = time.perf_counter()
        cluster, client = start_cluster()
        run_on_dask(tasks, None, Path(tmp) / "cold", client)
        t1_s = time.perf_counter()
        run_on_dask(warm, None, Path(tmp) / "warm", client)
        t2_s = time.perf_counter()
        run_on_dask(warm, None, Path(tmp) / "quiet", client, report_states=False)
        t3_s = time.perf_counter()
        client.close()
        cluster.close()
        t4_s = time.perf_counter()
    cold_s = (t1_s - t0_s) + (t4_s - t3_s)
    print(f"(a) {n_tasks} tiny tasks, dask executor: {n_tasks / cold_s:8.1f} tasks/s cluster "
          f"start to close ({cold_s:.2f} s); warm {n_tasks / (t2_s - t1_s):8.1f} tasks/s "
          f"({(t2_s - t1_s) / n_tasks * 1e3:.2f} ms/task); warm without state events "
          f"{n_tasks / (t3_s - t2_s):8.1f} tasks/s")


def figure_b(n_tasks: int) -> None:
    """Makespan of a heterogeneous sweep over its lower bound."""
    from neunet.dist.dask_exec import run_on_dask
    from neunet.store import open_run
    from neunet.tasks import Task
    spread = 50.0
    t_ms = [200.0 * spread ** (i / (n_tasks - 1)) for i in range(n_tasks)]
    tasks = [Task(tiny_pm(i, t)) for i, t in enumerate(t_ms)]
    cluster, client = start_cluster()
    client.run(lambda: __import__("neunet").simulate(tiny_pm(0)))  # kernels loaded
    with tempfile.TemporaryDirectory() as tmp:
        t0_s = time.perf_counter()
        run_on_dask(tasks, None, Path(tmp) / "run", client)
        makespan_s = time.perf_counter() - t0_s
        real_s = open_run(Path(tmp) / "run").table()["real_s"]
    client.close()
    cluster.close()
    bound_s = max(real_s.sum() / 2, real_s.max())
    ratio = makespan_s / bound_s
    costs = [t.time[0] for t in tasks]
    print(f"(b) {n_tasks} tasks, est. costs spread {max(costs) / min(costs):.0f}x, dask "
          f"executor: makespan {makespan_s:.2f} s / bound {bound_s:.2f} s = {ratio:.3f} "
          f"(target <= {MAKESPAN_RATIO_TARGET} for neunet's own runner)")


def figure_e(n_tasks: int) -> None:
    """Seconds until the first submission of a big sweep, and the client's peak RSS."""
    from neunet.dist.dask_exec import run_on_dask
    from neunet.tasks import Task
    t0_s = time.perf_counter()
    tasks = [Task(tiny_pm(i)) for i in range(n_tasks)]
    make_s = time.perf_counter() - t0_s
    cluster, client = start_cluster()
    started = {}

    def stop_at_first_submission(counts):
        if counts["submitted"] and "s" not in started:
            started["s"] = time.perf_counter() - t1_s
            raise KeyboardInterrupt

    with tempfile.TemporaryDirectory() as tmp:
        t1_s = time.perf_counter()
        try:
            run_on_dask(tasks, None, Path(tmp) / "run", client,
                        progress=stop_at_first_submission)
        except KeyboardInterrupt:
            pass
    client.close()
    cluster.close()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"(e) {n_tasks} tasks, dask executor: dispatch started {started.get('s', float('nan')):.2f} s "
          f"after the call (target < {DISPATCH_START_TARGET_S} s; building the Task list took "
          f"{make_s:.2f} s more), client peak RSS {rss_mb:.0f} MB")


def main(argv=None) -> int:
    """Run the figures asked for; return 0."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tiny", type=int, default=1000, help="tasks of figure (a)")
    p.add_argument("--hetero", type=int, default=40, help="tasks of figure (b)")
    p.add_argument("--many", type=int, default=100000, help="tasks of figure (e)")
    p.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    args = p.parse_args(argv)
    if args.quick:
        args.tiny, args.hetero, args.many = 100, 10, 2000
    os.environ.setdefault("NEUNET_DATA_DIR", tempfile.mkdtemp(prefix="neunet-bench-"))
    figure_a(args.tiny)
    figure_b(args.hetero)
    figure_e(args.many)
    return 0


if __name__ == "__main__":
    sys.exit(main())
