"""Figure (a) of dispatch.py with a browser watching the dashboard, and without, in one run.

``python benchmarks/dispatch.py --only a --browser [--browser-reps N]`` (or this file alone,
``python benchmarks/dispatch_browser.py [N]``): 1000 tiny tasks on
``--local-slots 2``, start to exit, measured `REPS` times each way, interleaved:

- without a browser (the coordinator serves its dashboard; nobody looks);
- with a browser watching: headless Chromium (Debian's chromium + chromium-driver, driven by
  Selenium) has the dashboard open in a tab left from an earlier sweep (the page is loaded
  from a stand-in server on the port the coordinator then takes, the first free one from
  8722, then left `IDLE_S` to go idle); the page reconnects to the new coordinator at once
  and watches the whole sweep;
- with a browser that loads the page when the URL is printed (the page load, ~0.3 CPU-seconds
  of Chromium on this machine even from its cache, falls inside the 2-3 s sweep);
- with ``--no-dashboard`` (what serving the dashboard costs when nobody looks).

The browser's cache is warmed by one watched run first. Printed: each way's median and range
of wall seconds and the ratios to "without" (target: the watching tab within 5 %), beside the
CPU seconds of the sweep's own processes (coordinator, its local worker and simulators: the
web server is in the coordinator) and of Chromium (all its processes) during each run: on a
2-core machine whose cores the sweep keeps busy, the browser's CPU time is time taken from
the sweep.
"""
from __future__ import annotations

import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

# Runs each way.
REPS = 5
# Seconds the browser is left before each run, after the tab is set up (every way alike): a
# page just loaded does some work of its own for ~1 s (0.02-0.07 CPU-s measured), which a
# tab left open from an earlier sweep has long done.
IDLE_S = 2.0
# Clock ticks per second of /proc/*/stat times.
TICKS = os.sysconf("SC_CLK_TCK")
# Chromium flags that work on the test machines.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1400,1900")


def _driver(profile: str):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in FLAGS + (f"--user-data-dir={profile}",):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(
        shutil.which("chromedriver") or "/usr/bin/chromedriver"))


def _open_tab(driver, run_dir) -> str:
    """Load the dashboard of a finished run from a stand-in server on the port the next
    coordinator will take, then stop the server: a tab left open; its URL."""
    from neunet.runner.dashboard.embed import serve_in_thread
    url, stop = serve_in_thread(run_dir, None, stream=open("/dev/null", "w"))
    try:
        driver.get(url)
        end = time.monotonic() + 60
        while not driver.execute_script("return window.neunetDash && "
                                        "window.neunetDash.nBars() > 0"):
            if time.monotonic() > end:
                raise RuntimeError("the stand-in dashboard did not load")
            time.sleep(0.02)
    finally:
        stop()
    return url


def tree_cpu_s(root: int) -> float:
    """CPU seconds used so far by process `root` and its descendants (and their reaped
    children), from /proc."""
    children: dict = {}
    times: dict = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
        times[int(entry)] = sum(int(v) for v in fields[11:15]) / TICKS
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += times.get(pid, 0.0)
        todo += children.get(pid, [])
    return total


def _wait(proc) -> float:
    """Wait for the coordinator; CPU seconds of it and its reaped descendants."""
    if proc.returncode is not None:  # ended (and reaped) before it printed a URL
        return float("nan")
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_utime + usage.ru_stime


def _one(d, work: Path, name: str, driver=None, tab_url=None, extra=()) -> dict:
    """One figure-(a) sweep, watched by `driver` when given (a tab already open on `tab_url`,
    else the page is loaded when the URL is printed): its wall seconds, the CPU seconds of
    the sweep's processes and of the browser, and how many states of this sweep the page
    took in."""
    tasks_py = d._tasks_py(work / f"{name}.py", d._tiny_body(d.N_TINY))
    log, run_dir = work / f"{name}.log", work / f"run_{name}"
    browser = driver.service.process.pid if driver is not None else None
    cpu0 = tree_cpu_s(browser) if browser else 0.0
    t0 = time.perf_counter()
    proc = d._coordinator(tasks_py, run_dir, "--local-slots", 2, *extra, log=log)
    if driver is not None:
        url = None
        while url is None and proc.poll() is None:
            m = re.search(r"dashboard: (http://\S+)", log.read_text() if log.exists() else "")
            url = m.group(1) if m else time.sleep(0.005)
        if url is not None and url != tab_url:
            driver.get(url)  # no tab open there: load the page now
    sweep_cpu = _wait(proc)
    wall_s = time.perf_counter() - t0
    browser_cpu = tree_cpu_s(browser) - cpu0 if browser else 0.0
    updates, server_cpu = (0, 0.0) if driver is None else driver.execute_script(
        "const d = window.neunetDash; return d && d.state && d.state.run.dir === "
        f"{str(run_dir.absolute())!r} ? [d.updates, d.state.run.dashboard_cpu_s] : [0, 0]")
    if proc.returncode != 0:
        raise RuntimeError(f"the sweep failed: {log.read_text()[-2000:]}")
    return {"wall": wall_s, "sweep_cpu": sweep_cpu, "browser_cpu": browser_cpu,
            "server_cpu": server_cpu, "updates": updates}


# The ways figure (a) is run: name -> (watched, page already open, coordinator options).
WAYS = {"without": (False, False, ()), "tab open": (True, True, ()),
        "page loaded": (True, False, ()), "no dashboard": (False, False, ("--no-dashboard",))}


def figure(work: Path, reps: int = REPS) -> dict:
    """Run the comparison (`reps` rounds of every way, interleaved); return each way's runs,
    medians, the ratios of the medians to "without", and the median and range of the ratios
    of each round's run to that round's "without" (paired: drift of the machine's load
    between rounds cancels)."""
    import dispatch as d
    profile = tempfile.mkdtemp(prefix="neunet-bench-chromium-")
    driver = _driver(profile)
    try:
        _one(d, work, "warm", driver)  # the browser caches the page's scripts
        runs: dict = {w: [] for w in WAYS}
        for rep in range(reps):
            for way, (watched, tab, extra) in WAYS.items():
                driver.get("about:blank")
                tab_url = _open_tab(driver, work / "run_warm") if tab else None
                time.sleep(IDLE_S)
                d._settle()
                runs[way].append(_one(d, work, f"{way.replace(' ', '_')}{rep}",
                                      driver if watched else None, tab_url, extra))
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
    med = {w: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for w, rs in runs.items()}
    paired = {w: [r["wall"] / b["wall"] for r, b in zip(rs, runs["without"])]
              for w, rs in runs.items()}
    return {"runs": runs, "median": med, "paired": paired,
            "ratio": {w: med[w]["wall"] / med["without"]["wall"] for w in WAYS}}


def report(result: dict, n_tasks: int) -> None:
    """Print the figure side by side with its peers."""
    reps = len(result["runs"]["without"])
    print(f"(a) with a browser watching the dashboard and without, {reps} runs each "
          "(interleaved); CPU seconds: the sweep's processes | Chromium's | the dashboard's "
          "reading thread (in the coordinator, until its last push):")
    for way in WAYS:
        runs, med = result["runs"][way], result["median"][way]
        walls = [r["wall"] for r in runs]
        line = (f"    {way:<12} {n_tasks / med['wall']:5.0f} tasks/s (median {med['wall']:.2f} s, "
                f"range {min(walls):.2f}-{max(walls):.2f} s)")
        paired = result["paired"][way]
        line += "" if way == "without" else (
            f"  x{result['ratio'][way]:.3f} of without (paired x{statistics.median(paired):.3f},"
            f" {min(paired):.2f}-{max(paired):.2f})")
        line += f"; CPU-s {med['sweep_cpu']:.2f}"
        if WAYS[way][0]:
            cpu = [r["browser_cpu"] for r in runs]
            line += (f" | {med['browser_cpu']:.2f} ({min(cpu):.2f}-{max(cpu):.2f}) | "
                     f"{med['server_cpu']:.3f}; states taken in {[r['updates'] for r in runs]}")
        print(line)
    ratio, paired = result["ratio"]["tab open"], statistics.median(result["paired"]["tab open"])
    print(f"    watching tab / without: {ratio:.3f} (medians), {paired:.3f} (median of paired "
          f"runs)   target <= 1.05: {'PASS' if max(ratio, paired) <= 1.05 else 'FAIL'}",
          flush=True)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import dispatch
    dispatch._warm()
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else REPS  # dispatch_browser.py [REPS]
    with tempfile.TemporaryDirectory(prefix="neunet-bench-browser-") as tmp:
        report(figure(Path(tmp), reps), dispatch.N_TINY)
