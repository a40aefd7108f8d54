"""The dashboard in a real browser (headless Chromium + Selenium) during a real sweep: a
coordinator, a worker process, simulations. Screenshots go to the test's tmp directory."""
import re
import signal
import time

from browser import chrome, console_errors, wait_for
from dist_helpers import coordinator, free_port, worker
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

# A sweep slow enough to watch: 36 tasks of ~0.2-0.4 s on one slot, with spikes to show.
SLOW_SWEEP = """\
from neunet import parameters, grid
pm = parameters(); pm['nE'] = 4; pm['nI'] = 1; pm['t'] = 3000; pm['ps'] = 0.02
tasks = grid(pm, pr=[1.0 + 0.1 * i for i in range(12)], scee=[0.03, 0.05, 0.07])
filter = {"keep": ["ras", "volt"], "downsample": 16}
"""


# JavaScript: the offset from the task stream's centre to the middle of a finished bar
# (plotly's axes convert data to pixels), for a real mouse click there.
CENTRE_OF_A_FINISHED_BAR = """
const gd = document.getElementById('stream'), full = gd._fullLayout;
const trace = gd.data.find((t) => t.name === 'finished');
const x = full.xaxis._offset + full.xaxis.l2p(trace.x[1]);
const y = full.yaxis._offset + full.yaxis.d2p(trace.y[1]);
const box = gd.getBoundingClientRect();
return [Math.round(x - box.width / 2), Math.round(y - box.height / 2)];
"""


def _url(log, timeout_s=60.0) -> str:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        m = re.search(r"dashboard: (http://\S+)", log.read_text() if log.exists() else "")
        if m:
            return m.group(1)
        time.sleep(0.05)
    raise AssertionError(f"no dashboard URL in {log}: {log.read_text()}")


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
        url = _url(log)
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
            dx, dy = driver.execute_script(CENTRE_OF_A_FINISHED_BAR)
            ActionChains(driver).move_to_element_with_offset(stream, dx, dy).pause(0.2) \
                .click().perform()
            n_spikes = wait_for(driver, "window.neunetDash.task && window.neunetDash.task.raster"
                                        " && window.neunetDash.task.raster.n_spikes", 30,
                                "the clicked task's raster")
            assert n_spikes > 0
            assert driver.find_element(By.ID, "task-panel").is_displayed()
            assert driver.find_elements(By.CSS_SELECTOR, "#raster .scatterlayer .point")
            assert driver.find_elements(By.CSS_SELECTOR, "#voltage .scatterlayer .trace")
            driver.save_screenshot(str(tmp_path / "dashboard-task.png"))
            assert coord.wait(120) == 0
            assert console_errors(driver) == []
    finally:
        for proc in (coord, work):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                proc.wait(30)
