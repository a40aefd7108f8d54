"""Dashboard load time of a 100,000-task run, in a real browser, with the server's own figures.

Builds a finished run directory of N tasks (default 100,000: the full default parameter set
with two varying parameters, three summary statistics, start and finish times on two
workers of two slots) in a temporary folder, serves it with ``python -m neunet.dashboard``
and prints, side by side with the 1 s target:

- the server: reading the run (model build, before the URL is printed), ``/api/state`` and
  ``/api/sweep`` response times and sizes;
- headless Chromium (Debian's chromium + chromium-driver): from navigation to the figures
  shown (counts) and to both charts drawn (task stream bars and sweep points), with a cold
  cache (a fresh profile: plotly.min.js is downloaded and compiled) and a warm one (the
  same tab navigated again), and how many DOM nodes the page holds.

Usage: ``.venv/bin/python benchmarks/dashboard.py [--tasks 100000] [--keep DIR]``
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

# The target: the page drawn within this many seconds.
TARGET_S = 1.0
# Tasks recorded per transaction while building the run.
BATCH = 5000


def build(run_dir: Path, n: int) -> float:
    """Write a finished run of `n` tasks; seconds it took."""
    import numpy as np

    import neunet
    from neunet.store import RunStore
    t0 = time.perf_counter()
    base = dict(neunet.parameters())
    store = RunStore(run_dir)
    tasks = [{"tid": f"{i:016x}", "pm": dict(base, pr=0.5 + 0.01 * (i % 100),
                                             ps=0.01 * (i // 100 % 10), seed=[i]),
              "est_cost": 1.0, "est_s": 0.01} for i in range(n)]
    store.sync_tasks(tasks)
    rng = np.random.default_rng(0)
    start = time.time() - n * 0.0025
    for lo in range(0, n, BATCH):
        part = tasks[lo:lo + BATCH]
        t_start = {t["tid"]: start + (lo + j) * 0.0025 for j, t in enumerate(part)}
        store.set_statuses([(t["tid"], "simulating", {"worker": f"w{(lo + j) % 2}",
                                                      "started": t_start[t["tid"]]})
                            for j, t in enumerate(part)])
        store.record_results(
            [(t["tid"], {"mean_rate": float(rng.normal(10 * t["pm"]["pr"], 1)),
                         "cv_isi": float(rng.random()), "n_spikes": 5.0}, 0.004,
              f"w{(lo + j) % 2}", None) for j, t in enumerate(part)],
            finished={tid: s + 0.004 for tid, s in t_start.items()})
    store.close()
    return time.perf_counter() - t0


def _get(url: str) -> tuple[float, int]:
    t0 = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as page:
        body = page.read()
    return time.perf_counter() - t0, len(body)


def _load(driver, url: str) -> dict:
    """Seconds from navigation to counts shown and to both charts drawn."""
    t0 = time.perf_counter()
    driver.get(url)
    counts = charts = None
    while charts is None and time.perf_counter() - t0 < 60:
        got = driver.execute_script(
            "const d = window.neunetDash; if (!d || !d.state) return [false, false];"
            "return [document.getElementById('count-total').textContent !== '0',"
            " d.nBars() > 0 && d.nPoints() > 0]")
        now = time.perf_counter() - t0
        counts = counts if counts is not None or not got[0] else now
        charts = now if got[1] else None
        time.sleep(0.005)
    nodes = driver.execute_script("return document.getElementsByTagName('*').length")
    return {"counts_s": counts, "charts_s": charts, "nodes": nodes}


def main(argv=None) -> int:
    """Build, serve, measure, print."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", type=int, default=100_000)
    p.add_argument("--keep", help="build the run here (reused when it exists)")
    args = p.parse_args(argv)
    from dispatch_browser import _driver
    tmp = tempfile.mkdtemp(prefix="neunet-bench-dash-")
    run_dir = Path(args.keep) if args.keep else Path(tmp) / "run"
    if not (run_dir / "index.sqlite").exists():
        print(f"building a finished run of {args.tasks} tasks: {build(run_dir, args.tasks):.1f} s",
              flush=True)
    t0 = time.perf_counter()
    server = subprocess.Popen([sys.executable, "-m", "neunet.dashboard", str(run_dir),
                               "--dashboard", "127.0.0.1:0"], stderr=subprocess.PIPE, text=True)
    try:
        url = re.search(r"(http://\S+)", server.stderr.readline()).group(1)
        ready_s = time.perf_counter() - t0
        state_s, state_bytes = _get(url + "api/state")
        state = json.loads(urllib.request.urlopen(url + "api/state").read())
        sweep_s, sweep_bytes = _get(url + "api/sweep?x=pr&y=mean_rate&c=ps")
        profile = tempfile.mkdtemp(prefix="neunet-bench-chromium-")
        driver = _driver(profile)
        try:
            cold = _load(driver, url)
            driver.get("about:blank")
            warm = [_load(driver, url) for _ in range(3)]
        finally:
            driver.quit()
            shutil.rmtree(profile, ignore_errors=True)
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    n = state["progress"]["total"]
    print(f"run of {n} tasks ({state['stream']['n_bars']} stream bars shipped)")
    print(f"server: ready to serve (run read) {ready_s:.2f} s; /api/state {state_s * 1e3:.0f} ms "
          f"({state_bytes / 1e3:.0f} kB); /api/sweep {sweep_s * 1e3:.0f} ms "
          f"({sweep_bytes / 1e3:.0f} kB)")
    for label, m in [("cold cache", cold)] + [(f"warm cache #{i + 1}", w)
                                              for i, w in enumerate(warm)]:
        ok = m["charts_s"] is not None and m["charts_s"] < TARGET_S
        print(f"browser, {label:<13} counts shown {m['counts_s']:.2f} s, charts drawn "
              f"{m['charts_s']:.2f} s, {m['nodes']} DOM elements   target < {TARGET_S:.0f} s: "
              f"{'PASS' if ok else 'FAIL'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
