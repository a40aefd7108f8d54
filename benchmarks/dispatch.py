"""Dispatch benchmark of the sweep runner, side by side with dask.distributed, in one run.

Figures (docs: issue "The distributed runner"), each printed with its target:

(a) throughput of 1000 tiny simulations (1 neuron, t = 10 ms): ``python -m neunet.coordinator
    --local-slots 2``, start to exit, against a dask LocalCluster (2 processes) mapping
    ``neunet.simulate``, start to close. Target: neunet >= 2x dask.
(b) makespan of 40 tasks whose costs spread 50x, on 2 slots, divided by its lower bound
    max(total / 2, longest). Target: neunet <= 1.05.
(c) seconds from SIGSTOP of a worker holding tasks to the coordinator declaring it dead and
    re-queueing its tasks. Target: <= 5 s (dask's worker-ttl is printed for comparison).
(d) a 50 MB result worker -> coordinator -> run directory over the socket (a worker process of
    its own, as on another machine): GB/s and the coordinator's peak memory. Targets: >= 0.5
    GB/s, peak < 2x the result's size. Printed with it: the disk's own speed for the same
    bytes (one write + fsync of 50 MB in the same directory, just before), the ceiling of any
    durable transfer, and the same result from a local slot (``--local-slots 1``: its spool
    file is moved into the run directory and fsynced, not sent).
(e) 100,000 tasks: seconds from start until the first task is dispatched, and the
    coordinator's peak memory. Targets: < 10 s, < 500 MB.

Usage: ``python benchmarks/dispatch.py [--only a,b,...] [--executor NAME ...]``. Executors
are columns; ``neunet`` and ``dask`` are built in, ``neunet-dask`` (neunet's Dask executor)
comes from `dispatch_dask_exec.py`; another one is added by registering a function in
`EXECUTORS` (name -> {figure letter: callable(workdir) -> dict}).
"""
from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Interpreter used for all processes.
PY = sys.executable
# The environment the benchmark was started with: every column's processes get it, and it is
# restored after each column (a dask LocalCluster sets MALLOC_TRIM_THRESHOLD_=65536 and the
# *_NUM_THREADS variables in this process's os.environ, which slowed the neunet processes of
# later figures by ~25 %).
_USER_ENV = dict(os.environ)
# Number of tiny tasks of figure (a).
N_TINY = 1000
# Number of tasks of figure (b) and the spread of their t (ms).
N_HETERO, T_MIN_MS, T_MAX_MS = 40, 400.0, 20000.0
# Number of tasks of figure (e).
N_SCALE = 100_000
# Seconds of quiet (after a sync) before each measurement, and most seconds to wait for the
# simulator processes of the previous one to end.
SETTLE_S, STRAY_WAIT_S = 0.5, 30.0
# Figure (d): 10 neurons x 625,000 samples of float64 = 50 MB of voltage.
BIG_N, BIG_T_MS = 10, 19531.25


def _env() -> dict:
    return dict(_USER_ENV, PYTHONPATH=str(ROOT) + os.pathsep + _USER_ENV.get("PYTHONPATH", ""))


def _tasks_py(path: Path, body: str) -> Path:
    path.write_text("from neunet import parameters\n"
                    "pm = parameters(); pm['nE'] = 1; pm['nI'] = 0\n" + body)
    return path


def _tiny_body(n: int) -> str:
    return (f"tasks = [dict(pm, t=10, pr=0.5 + i * 1e-4) for i in range({n})]\n")


def _hetero_ts() -> list:
    ratio = (T_MAX_MS / T_MIN_MS) ** (1 / (N_HETERO - 1))
    return [round(T_MIN_MS * ratio ** i, 3) for i in range(N_HETERO)]


def _pms(body: str) -> list:
    ns: dict = {}
    exec("from neunet import parameters\n"
         "pm = parameters(); pm['nE'] = 1; pm['nI'] = 0\n" + body, ns)
    return ns["tasks"]


def _coordinator(tasks_py, run_dir, *args, log):
    return subprocess.Popen([PY, "-m", "neunet.coordinator", str(tasks_py), "--run-dir",
                             str(run_dir), "--port", "0", *map(str, args)], env=_env(),
                            stdout=subprocess.DEVNULL, stderr=open(log, "wb"))


def _worker(port, *args, log=None):
    return subprocess.Popen([PY, "-m", "neunet.worker", "--connect", f"127.0.0.1:{port}",
                             *map(str, args)], env=_env(), stdout=subprocess.DEVNULL,
                            stderr=open(log, "wb") if log else subprocess.DEVNULL)


def _wait_log(log: Path, pattern: str, timeout_s: float):
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        m = re.search(pattern, log.read_text()) if log.exists() else None
        if m:
            return m
        time.sleep(0.01)
    raise RuntimeError(f"{pattern!r} not seen in {log} within {timeout_s} s")


def _peak_mb(log: Path) -> float:
    return float(_wait_log(log, r"peak memory (\d+) MB", 10).group(1))


# ------------------------------------------------------------------ neunet
def neunet_a(work: Path) -> dict:
    tasks_py = _tasks_py(work / "tiny.py", _tiny_body(N_TINY))
    t0 = time.perf_counter()
    proc = _coordinator(tasks_py, work / "run_a", "--local-slots", 2, log=work / "a.log")
    rc = proc.wait()
    wall_s = time.perf_counter() - t0
    return {"value": N_TINY / wall_s, "text": f"{N_TINY / wall_s:.0f} tasks/s ({wall_s:.1f} s)",
            "ok": rc == 0}


def neunet_b(work: Path) -> dict:
    import neunet
    body = f"tasks = [dict(pm, t=t) for t in {_hetero_ts()!r}]\n"
    tasks_py = _tasks_py(work / "hetero.py", body)
    proc = _coordinator(tasks_py, work / "run_b", "--local-slots", 2, log=work / "b.log")
    proc.wait()
    table = neunet.open_run(work / "run_b").table()
    makespan = table.finished.max() - table.started.min()
    return _ratio(makespan, list(table.real_s))


def _ratio(makespan: float, durations: list) -> dict:
    bound = max(sum(durations) / 2, max(durations))
    return {"value": makespan / bound,
            "text": f"{makespan / bound:.3f} ({makespan:.2f} s / {bound:.2f} s)"}


def neunet_c(work: Path) -> dict:
    # tasks long enough to still be running when the worker is stopped (3 s after joining)
    tasks_py = _tasks_py(work / "stop.py", "tasks = [dict(pm, t=400000, pr=0.5 + i * 1e-3) "
                                           "for i in range(40)]\n")
    log = work / "c.log"
    proc = _coordinator(tasks_py, work / "run_c", "--local-slots", 0, log=log)
    port = int(_wait_log(log, r"listening on [^:]+:(\d+)", 60).group(1))
    hung = _worker(port, "--slots", 1, "--name", "hung", "--prefetch", 2)
    other = _worker(port, "--slots", 1, "--name", "other")
    try:
        _wait_log(log, r"worker hung joined", 60)
        time.sleep(3.0)  # both warm and busy
        os.kill(hung.pid, signal.SIGSTOP)
        t0 = time.perf_counter()
        _wait_log(log, r"worker hung dropped", 60)
        detect_s = time.perf_counter() - t0
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait()
        for w in (hung, other):
            os.kill(w.pid, signal.SIGCONT)
            w.kill()
            w.wait()
    return {"value": detect_s, "text": f"{detect_s:.2f} s"}


def _disk_gb_s(work: Path, nbytes: int = 50_000_000) -> float:
    """GB/s of writing and fsyncing `nbytes` to a file in `work`: the ceiling of figure (d)."""
    data = os.urandom(nbytes)
    path = work / "disk_probe.bin"
    t0 = time.perf_counter()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    secs = time.perf_counter() - t0
    path.unlink()
    return nbytes / 1e9 / secs


def neunet_d(work: Path) -> dict:
    disk = _disk_gb_s(work)
    os.sync()
    body = f"tasks = [dict(pm, nE={BIG_N}, t={BIG_T_MS}, pr=0.5)]\n"
    tasks_py = _tasks_py(work / "big.py", body)
    log = work / "d.log"
    # a worker of its own, as on another machine: a local slot's result is moved, not sent
    proc = _coordinator(tasks_py, work / "run_d", "--local-slots", 0, "--log-level", "DEBUG",
                        log=log)
    port = int(_wait_log(log, r"listening on [^:]+:(\d+)", 60).group(1))
    worker = _worker(port, "--slots", 1)
    proc.wait()
    worker.wait()
    m = _wait_log(log, r"([\d.]+) MB received and stored in ([\d.]+) s", 10)
    mb, secs = float(m.group(1)), float(m.group(2))
    peak = _peak_mb(log)
    os.sync()
    local = work / "d_local.log"  # the same result from a local slot: its file is moved
    _coordinator(tasks_py, work / "run_d_local", "--local-slots", 1, "--log-level", "DEBUG",
                 log=local).wait()
    local_s = float(_wait_log(local, r"MB moved from the local spool and stored in ([\d.]+) s",
                              10).group(1))
    return {"value": mb / 1e3 / secs, "peak_mb": peak, "size_mb": mb,
            "text": f"{mb / 1e3 / secs:.2f} GB/s, peak {peak:.0f} MB",
            "note": f"disk alone (write + fsync of {mb:.0f} MB) {disk:.2f} GB/s; from a local "
                    f"slot (its file moved, not sent) {mb / 1e3 / local_s:.2f} GB/s"}


def neunet_e(work: Path) -> dict:
    body = f"tasks = [dict(pm, t=10, pr=0.5 + i * 1e-6) for i in range({N_SCALE})]\n"
    tasks_py = _tasks_py(work / "scale.py", body)
    log = work / "e.log"
    t0 = time.perf_counter()
    proc = _coordinator(tasks_py, work / "run_e", "--local-slots", 1, log=log)
    try:
        _wait_log(log, r"first task dispatched", 300)
        start_s = time.perf_counter() - t0
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait()
    peak = _peak_mb(log)
    return {"value": start_s, "peak_mb": peak,
            "text": f"{start_s:.1f} s to first dispatch, peak {peak:.0f} MB"}


# ------------------------------------------------------------------ dask
def _cluster(n_workers: int):
    from distributed import Client, LocalCluster
    cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                           dashboard_address=None)
    return cluster, Client(cluster)


def dask_a(work: Path) -> dict:
    import neunet
    pms = _pms(_tiny_body(N_TINY))
    t0 = time.perf_counter()
    cluster, client = _cluster(2)
    client.gather(client.map(neunet.simulate, pms, pure=False))
    client.close()
    cluster.close()
    wall_s = time.perf_counter() - t0
    return {"value": N_TINY / wall_s, "text": f"{N_TINY / wall_s:.0f} tasks/s ({wall_s:.1f} s)"}


def _timed_simulate(pm):
    import time as _t

    import neunet as _n
    t0 = _t.time()
    _n.simulate(pm)
    return t0, _t.time()


def dask_b(work: Path) -> dict:
    pms = _pms(f"tasks = [dict(pm, t=t) for t in {_hetero_ts()!r}]\n")
    cluster, client = _cluster(2)
    try:
        client.run(_timed_simulate, dict(pms[0], t=10))  # warm both workers' kernels
        spans = client.gather(client.map(_timed_simulate, pms, pure=False))
    finally:
        client.close()
        cluster.close()
    makespan = max(e for _, e in spans) - min(s for s, _ in spans)
    return _ratio(makespan, [e - s for s, e in spans])


def dask_c(work: Path) -> dict:
    import dask
    import distributed  # noqa: F401  (loads the distributed.* config defaults)
    ttl = dask.config.get("distributed.scheduler.worker-ttl")
    return {"value": None, "text": f"not run (worker-ttl {ttl})"}


def _make_bytes(n):
    import numpy as np
    return np.ones(n // 8)


def dask_d(work: Path) -> dict:
    import numpy as np
    from distributed import wait
    cluster, client = _cluster(1)
    try:
        fut = client.submit(_make_bytes, 50_000_000, pure=False)
        wait(fut)
        t0 = time.perf_counter()
        arr = fut.result()
        with open(work / "dask_big.npy", "wb") as fh:
            np.save(fh, arr)
            fh.flush()
            os.fsync(fh.fileno())
        secs = time.perf_counter() - t0
    finally:
        client.close()
        cluster.close()
    return {"value": 0.05 / secs, "text": f"{0.05 / secs:.2f} GB/s"}


def dask_e(work: Path) -> dict:
    return {"value": None, "text": "not run"}


# Executor name -> figure letter -> function(workdir) -> {"value", "text", ...}.
EXECUTORS = {
    "neunet": {"a": neunet_a, "b": neunet_b, "c": neunet_c, "d": neunet_d, "e": neunet_e},
    "dask": {"a": dask_a, "b": dask_b, "c": dask_c, "d": dask_d, "e": dask_e},
}
try:  # the third column: neunet's own Dask executor (benchmarks/dispatch_dask_exec.py)
    from dispatch_dask_exec import COLUMN as _DASK_EXEC_COLUMN
    EXECUTORS["neunet-dask"] = _DASK_EXEC_COLUMN
except ImportError:  # dask not installed, or run from elsewhere
    pass
# Figure letter -> (title, verdict(results by executor) -> str).
FIGURES = {
    "a": ("throughput, 1000 tiny tasks",
          lambda r: _verdict(r["neunet"]["value"] >= 2 * r["dask"]["value"]
                             if "dask" in r else None, "neunet >= 2x dask")),
    "b": ("makespan / lower bound, 40 tasks",
          lambda r: _verdict(r["neunet"]["value"] <= 1.05, "<= 1.05")),
    "c": ("SIGSTOP worker declared dead",
          lambda r: _verdict(r["neunet"]["value"] <= 5.0, "<= 5 s")),
    "d": ("50 MB result to the run directory",
          lambda r: _verdict(r["neunet"]["value"] >= 0.5
                             and r["neunet"]["peak_mb"] < 2 * r["neunet"]["size_mb"],
                             ">= 0.5 GB/s, peak < 2x size")),
    "e": ("100,000 tasks: start and memory",
          lambda r: _verdict(r["neunet"]["value"] < 10 and r["neunet"]["peak_mb"] < 500,
                             "< 10 s, < 500 MB")),
}


def _verdict(ok, target: str) -> str:
    return f"{target}: " + ("n/a" if ok is None else "PASS" if ok else "FAIL")


def _warm() -> None:
    import neunet
    pm = neunet.parameters()
    pm.update(nE=1, nI=0, t=10)
    neunet.simulate(pm)
    neunet.simulate(dict(pm, nE=BIG_N, t=10))


def _settle() -> None:
    """Start each measurement on a quiet machine: the previous one's simulator processes gone
    (waited for up to STRAY_WAIT_S), its files written out (the kernel's write-back would
    otherwise run during the next one), then SETTLE_S of quiet."""
    end = time.monotonic() + STRAY_WAIT_S
    while time.monotonic() < end and subprocess.run(
            ["pgrep", "-f", "neunet.runner.worker.slot_process"],
            capture_output=True).returncode == 0:
        time.sleep(0.1)
    os.sync()
    time.sleep(SETTLE_S)


def main(argv=None) -> int:
    """Run the chosen figures for the chosen executors and print them side by side."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", default="abcde", help="figures to run, e.g. 'ab' or 'a,b,d'")
    p.add_argument("--executor", action="append", default=None,
                   help=f"column to include (default: all of "
                        f"{', '.join(EXECUTORS)})")
    p.add_argument("--browser", action="store_true",
                   help="with (a): also (a) with a browser watching the dashboard and without "
                        "(dispatch_browser.py)")
    args = p.parse_args(argv)
    args.only = args.only.replace(",", "").replace(" ", "")
    names = args.executor or [n for n in ("neunet", "dask", "neunet-dask") if n in EXECUTORS]
    bad = [n for n in names if n not in EXECUTORS] + [f for f in args.only if f not in FIGURES]
    if bad or "neunet" not in names:
        print(f"dispatch.py: error: unknown executor/figure {bad} (neunet is required)",
              file=sys.stderr)
        return 2
    _warm()
    width = 44
    print(f"{'figure':<{width}}" + "".join(f"{n:<34}" for n in names) + "target")
    for fig in args.only:
        title, verdict = FIGURES[fig]
        results = {}
        with tempfile.TemporaryDirectory(prefix=f"neunet-bench-{fig}-") as tmp:
            for name in names:
                _settle()
                try:
                    results[name] = EXECUTORS[name][fig](Path(tmp))
                finally:  # dask sets MALLOC_TRIM_THRESHOLD_, OMP_NUM_THREADS, ... in os.environ
                    os.environ.clear()
                    os.environ.update(_USER_ENV)
        cells = "".join(f"{results[n]['text']:<34}" for n in names)
        print(f"({fig}) {title:<{width - 4}}{cells}{verdict(results)}", flush=True)
        for name in names:  # what the figure is to be read against, on lines of its own
            if results[name].get("note"):
                print(f"    {name}: {results[name]['note']}", flush=True)
        if fig == "a" and args.browser:
            import dispatch_browser
            with tempfile.TemporaryDirectory(prefix="neunet-bench-browser-") as tmp:
                dispatch_browser.report(dispatch_browser.figure(Path(tmp)), N_TINY)
    return 0


if __name__ == "__main__":
    sys.exit(main())
