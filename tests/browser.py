"""Headless Chromium driven by Selenium for the dashboard tests (Debian's chromium and
chromium-driver; .ci/run installs them)."""
import os
import shutil
import tempfile
import time
from contextlib import contextmanager

import pytest

# Chromium flags that work on the test machines (no sandbox as root, no GPU, no network
# chatter of its own), and the window size of the screenshots.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1400,1900")
# Where Debian puts them.
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def available() -> bool:
    return (shutil.which("chromium") or os.path.exists(CHROMIUM)) and (
        shutil.which("chromedriver") or os.path.exists(CHROMEDRIVER))


@contextmanager
def chrome():
    """A fresh headless Chromium (its own profile directory), quit at the end."""
    if not available():
        if os.environ.get("CI"):
            pytest.fail("chromium and chromium-driver are not installed (.ci/run installs them)")
        pytest.skip("chromium and chromium-driver are not installed (apt-get install chromium "
                    "chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    profile = tempfile.mkdtemp(prefix="neunet-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or CHROMIUM
    for flag in FLAGS + (f"--user-data-dir={profile}",):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options,
                              service=Service(shutil.which("chromedriver") or CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait_for(driver, script: str, timeout_s: float = 60.0, what: str = ""):
    """Poll a JavaScript expression until it is truthy; return its value."""
    end = time.monotonic() + timeout_s
    while True:
        value = driver.execute_script("return " + script)
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"not seen within {timeout_s} s: {what or script}")
        time.sleep(0.05)


def console_errors(driver) -> list:
    """Severe console messages of the page (script errors, CSP violations); not the event
    stream's reconnection attempts once its server has gone."""
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"
            and not ("/events" in e["message"] and "ERR_CONNECTION_REFUSED" in e["message"])]
