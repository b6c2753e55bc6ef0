"""A real headless Chromium (Debian's chromium and chromium-driver) driven by Selenium, for the console's browser
tests. Never downloads a browser: the binaries are the system's, the flags keep Chromium off the network but for
the pages it is sent to, and every browser starts from a fresh profile."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("SILKGATE_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("SILKGATE_CHROMEDRIVER", "/usr/bin/chromedriver")
# CI (.ci/run) sets this: there, a missing browser fails the run instead of skipping the browser tests.
REQUIRED = os.environ.get("SILKGATE_REQUIRE_BROWSER", "") == "1"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
         "--window-size=1366,900", "--lang=en-US")


def require_chromium() -> None:
    """Skip (or, in CI, fail) when this machine has no Chromium and driver: `apt-get install chromium chromium-driver`."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not Path(path).exists()]
    if missing:
        message = f"headless Chromium needed: {', '.join(missing)} missing (apt-get install chromium chromium-driver)"
        if REQUIRED:
            pytest.fail(message)
        pytest.skip(message)


@contextmanager
def chromium() -> Iterator:
    """One browser with a fresh user-data-dir, quit and wiped afterwards."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="silkgate-chromium-")
    options = Options()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


ROOT = Path(__file__).resolve().parents[3]


def artifacts_dir() -> Path:
    """Where the screenshots go: SILKGATE_BROWSER_ARTIFACTS, else var/test-artifacts/console in the checkout (kept
    after the run, unlike pytest's temporary directories, which other runs on the machine rotate away)."""
    configured = os.environ.get("SILKGATE_BROWSER_ARTIFACTS")
    path = Path(configured) if configured else ROOT / "var" / "test-artifacts" / "console"
    path.mkdir(parents=True, exist_ok=True)
    return path
