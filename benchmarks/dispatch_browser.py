"""Figure (a) of dispatch.py with a browser watching the dashboard, and without, in one run.

``python benchmarks/dispatch.py --only a --browser`` (or this file alone): 1000 tiny tasks on
``--local-slots 2``, start to exit, measured `REPS` times each way, interleaved:

- without a browser (the coordinator serves its dashboard; nobody looks);
- with a browser watching: headless Chromium (Debian's chromium + chromium-driver, driven by
  Selenium) has the dashboard open in a tab left from an earlier sweep (the page is loaded
  from a stand-in server on the port the coordinator then takes, the first free one from
  8722); the page reconnects to the new coordinator at once and watches the whole sweep;
- with a browser that loads the page when the URL is printed (the page load, ~0.4-1.3
  CPU-seconds of Chromium on this machine even from its cache, falls inside the 2 s sweep);
- with ``--no-dashboard`` (what serving the dashboard costs when nobody looks).

The browser's cache is warmed by one watched run first. Printed: each way's median and range
and the ratios to "without" (target: the watching tab within 5 %).
"""
from __future__ import annotations

import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

# Runs each way.
REPS = 3
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


def _one(d, work: Path, name: str, driver=None, tab_url=None, extra=()) -> tuple[float, int]:
    """Wall seconds of one figure-(a) sweep, watched by `driver` when given (a tab already
    open on `tab_url`, else the page is loaded when the URL is printed); and how many states
    of this sweep the page took in."""
    tasks_py = d._tasks_py(work / f"{name}.py", d._tiny_body(d.N_TINY))
    log, run_dir = work / f"{name}.log", work / f"run_{name}"
    t0 = time.perf_counter()
    proc = d._coordinator(tasks_py, run_dir, "--local-slots", 2, *extra, log=log)
    updates = 0
    if driver is not None:
        url = None
        while url is None and proc.poll() is None:
            m = re.search(r"dashboard: (http://\S+)", log.read_text() if log.exists() else "")
            url = m.group(1) if m else time.sleep(0.005)
        if url is not None and url != tab_url:
            driver.get(url)  # no tab open there: load the page now
    while proc.poll() is None:
        time.sleep(0.05)
    wall_s = time.perf_counter() - t0
    if driver is not None:
        updates = driver.execute_script(
            "const d = window.neunetDash; return d && d.state && d.state.run.dir === "
            f"{str(run_dir.absolute())!r} ? d.updates : 0")
    if proc.returncode != 0:
        raise RuntimeError(f"the sweep failed: {log.read_text()[-2000:]}")
    return wall_s, updates


# The ways figure (a) is run: name -> (watched, page already open, coordinator options).
WAYS = {"without": (False, False, ()), "tab open": (True, True, ()),
        "page loaded": (True, False, ()), "no dashboard": (False, False, ("--no-dashboard",))}


def figure(work: Path) -> dict:
    """Run the comparison; return times, medians and the ratios to "without"."""
    import dispatch as d
    profile = tempfile.mkdtemp(prefix="neunet-bench-chromium-")
    driver = _driver(profile)
    try:
        _one(d, work, "warm", driver)  # the browser caches the page's scripts
        times: dict = {w: [] for w in WAYS}
        seen: dict = {w: [] for w in WAYS}
        for rep in range(REPS):
            for way, (watched, tab, extra) in WAYS.items():
                driver.get("about:blank")
                tab_url = _open_tab(driver, work / "run_warm") if tab else None
                d._settle()
                wall, updates = _one(d, work, f"{way.replace(' ', '_')}{rep}",
                                     driver if watched else None, tab_url, extra)
                times[way].append(wall)
                seen[way].append(updates)
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"times": times, "median": med, "updates": seen,
            "ratio": {k: med[k] / med["without"] for k in WAYS}}


def report(result: dict, n_tasks: int) -> None:
    """Print the figure side by side with its peers."""
    print(f"(a) with a browser watching the dashboard and without, {REPS} runs each "
          "(interleaved):")
    for way in WAYS:
        ts, med = result["times"][way], result["median"][way]
        line = (f"    {way:<12} {n_tasks / med:5.0f} tasks/s (median {med:.2f} s, range "
                f"{min(ts):.2f}-{max(ts):.2f} s)")
        if way != "without":
            line += f"  x{result['ratio'][way]:.3f} of without"
        if WAYS[way][0]:
            line += f"; states pushed to the page per run {result['updates'][way]}"
        print(line)
    ratio = result["ratio"]["tab open"]
    print(f"    watching tab / without: {ratio:.3f}   target <= 1.05: "
          f"{'PASS' if ratio <= 1.05 else 'FAIL'}", flush=True)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import dispatch
    dispatch._warm()
    with tempfile.TemporaryDirectory(prefix="neunet-bench-browser-") as tmp:
        report(figure(Path(tmp)), dispatch.N_TINY)
