"""The dashboard in a real browser (headless Chromium + Selenium) during a real sweep: a
coordinator, a worker process, simulations. Screenshots go to the test's tmp directory."""
import signal
import sys
import time
import urllib.parse

from browser import chrome, console_errors, wait_for
from dist_helpers import coordinator, dashboard_url, free_port, worker
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

from neunet.runner.dashboard.embed import serve_in_thread
from neunet.store import RunStore

# A sweep slow enough to watch: 36 tasks of ~0.5-1 s on one slot (~25 s in all), with spikes
# to show (at 3 s of model time the sweep ended in 4 s, before the page had watched it grow).
SLOW_SWEEP = """\
from neunet import parameters, grid
pm = parameters(); pm['nE'] = 4; pm['nI'] = 1; pm['t'] = 20000; pm['ps'] = 0.02
tasks = grid(pm, pr=[1.0 + 0.1 * i for i in range(12)], scee=[0.03, 0.05, 0.07])
filter = {"keep": ["ras", "volt"], "downsample": 16}
"""


# JavaScript: the offset from the task stream's centre to the middle of a finished bar (the
# chart converts data to pixels), for a real mouse click there; and that bar's task id.
CENTRE_OF_A_FINISHED_BAR = "return window.neunetDash.charts.stream.centreOf('finished')"


def _counts(driver) -> dict:
    return driver.execute_script("const s = window.neunetDash.state; return s && s.progress")


def test_watching_a_live_sweep_in_a_browser(tmp_path):
    tasks_py = tmp_path / "slow.py"
    tasks_py.write_text(SLOW_SWEEP)
    log = tmp_path / "coord.log"
    port = free_port()
    coord = coordinator(tasks_py, tmp_path / "run", port, "--local-slots", 0,
                        "--dashboard", "127.0.0.1:0", log=log)
    work = None
    try:
        url = dashboard_url(log)
        with chrome() as driver:
            driver.get(url)
            wait_for(driver, "window.neunetDash && window.neunetDash.state", 60, "first state")
            work = worker(port, 1)  # the sweep starts while the page watches
            row = wait_for(driver, "document.querySelector('#workers tbody tr.worker')"
                                   " && document.querySelector('#workers tbody tr').innerText",
                           60, "a worker row")
            assert "alive" in row and "/ 1" in row
            first = wait_for(driver, "window.neunetDash.state.progress.finished >= 1 && "
                                     "window.neunetDash.state.progress", 90, "a finished task")
            bars0, points0 = (driver.execute_script("return window.neunetDash.nBars()"),
                              driver.execute_script("return window.neunetDash.nPoints()"))
            wait_for(driver, f"window.neunetDash.state.progress.finished >= {first['finished'] + 3}"
                             f" && window.neunetDash.nBars() > {bars0}"
                             f" && window.neunetDash.nPoints() > {points0}", 90,
                     "counts, task stream and sweep plot growing")
            later = _counts(driver)
            assert later["finished"] > first["finished"] and later["total"] == 36
            assert driver.find_element(By.ID, "count-finished").text == str(
                driver.execute_script("return window.neunetDash.state.progress.finished"))
            driver.save_screenshot(str(tmp_path / "dashboard-mid-sweep.png"))
            # click the middle of a finished bar of the task stream: its raster and voltage
            stream = driver.find_element(By.ID, "stream")
            dx, dy, tid = driver.execute_script(CENTRE_OF_A_FINISHED_BAR)
            ActionChains(driver).move_to_element_with_offset(stream, dx, dy).pause(0.2) \
                .click().perform()
            n_spikes = wait_for(driver, "window.neunetDash.task && window.neunetDash.task.raster"
                                        " && window.neunetDash.task.raster.n_spikes", 30,
                                "the clicked task's raster")
            assert n_spikes > 0
            assert driver.execute_script("return window.neunetDash.task.tid") == tid
            assert driver.find_element(By.ID, "task-panel").is_displayed()
            assert driver.execute_script("return window.neunetDash.charts.raster.drawn()") > 0
            assert driver.execute_script("return window.neunetDash.charts.voltage.drawn()") > 0
            assert driver.find_elements(By.CSS_SELECTOR, "#raster canvas, #voltage canvas")
            driver.save_screenshot(str(tmp_path / "dashboard-task.png"))
            assert coord.wait(120) == 0
            assert console_errors(driver) == []
    finally:
        for proc in (coord, work):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                proc.wait(30)


def _small_run(path, n_tasks, pr0):
    """A finished run of `n_tasks` tasks whose pr starts at `pr0`."""
    store = RunStore(path)
    store.sync_tasks([{"tid": f"{path.name}{i:03d}", "pm": {"pr": pr0 + 0.1 * i, "nE": 1},
                       "est_cost": 1, "est_s": 1} for i in range(n_tasks)])
    now = time.time()
    tids = [f"{path.name}{i:03d}" for i in range(n_tasks)]
    store.set_statuses([(t, "simulating", {"worker": "w", "started": now - 5 + i})
                        for i, t in enumerate(tids)])
    store.record_results([(t, {"rate": float(i)}, 0.5, "w", None) for i, t in enumerate(tids)])
    store.close()
    return path


def test_a_tab_left_open_follows_the_next_server_and_reloads_cost_no_connections(tmp_path):
    first = _small_run(tmp_path / "a", 5, 1.0)
    url, stop = serve_in_thread(first, "127.0.0.1:0", stream=sys.stderr)
    port = urllib.parse.urlsplit(url).port
    with chrome() as driver:
        driver.get(url)
        wait_for(driver, "window.neunetDash.nPoints() == 5", 30, "the first run's sweep plot")
        driver.execute_script("window.loadedOnce = true")
        stop()  # the sweep ends; the next one's dashboard takes the same port
        second = _small_run(tmp_path / "b", 7, 2.0)
        url2, stop2 = serve_in_thread(second, f"127.0.0.1:{port}", stream=sys.stderr)
        try:
            assert url2 == url
            wait_for(driver, "window.neunetDash.nPoints() == 7 && window.neunetDash.nBars() == 7",
                     30, "the tab following the next server")
            assert driver.execute_script("return window.loadedOnce && window.neunetDash"
                                         ".sessions") == 1  # not reloaded: started over
            for _ in range(8):  # more than a browser's six connections per server
                driver.get("about:blank")
                driver.get(url)
                wait_for(driver, "window.neunetDash.nPoints() == 7", 30, "a reloaded page")
            assert console_errors(driver) == []
        finally:
            stop2()
