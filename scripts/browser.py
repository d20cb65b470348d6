"""Start the app with `streamlit run` on a free local port and drive it in headless Chromium.

Shared by the browser tests (tests/e2e), the screenshot tour and the page-speed benchmark.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import httpx
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

REPO = Path(__file__).resolve().parent.parent
CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1280,800"]
RUNNING = "[data-testid='stStatusWidgetRunningIcon']"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_app(workspace: Path, timeout_s: float = 60, **env: str) -> tuple[subprocess.Popen, str]:
    """The app serving `workspace` on 127.0.0.1: (process, base URL), once its health check answers."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(REPO / "app.py"), "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=REPO, env={**os.environ, "DSAII_WORKSPACE": str(workspace), **env},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"app exited: {process.stdout.read().decode(errors='replace')[-2000:]}")
        try:
            if httpx.get(f"{url}/_stcore/health", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.3)
    stop_app(process)
    raise RuntimeError(f"app did not start within {timeout_s:.0f} s")


def stop_app(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


def chromium(profile_dir: Path) -> webdriver.Chrome:
    """Headless Chromium through Debian's chromedriver (no Selenium Manager download), 1280×800."""
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={profile_dir}"]:
        options.add_argument(flag)
    service = Service(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_window_size(1280, 800)
    return driver


def wait_rendered(driver: webdriver.Chrome, title: str | None = None, timeout_s: float = 60) -> float:
    """Wait until the page shows its title (any, or `title`) and no script run is in progress.

    Returns the seconds waited.
    """
    started = time.time()
    while time.time() - started < timeout_s:
        # Read the headings in one script call: the page re-renders under us, so elements go stale.
        headings = driver.execute_script("return Array.from(document.querySelectorAll('h1')).map(h => h.innerText)")
        if headings and (title is None or title in headings) and not driver.find_elements(By.CSS_SELECTOR, RUNNING):
            return time.time() - started
        time.sleep(0.02)
    raise TimeoutError(f"page not rendered within {timeout_s} s")


def navigate(driver: webdriver.Chrome, page: str, title: str) -> float:
    """Click the sidebar link to `page` and return the seconds until its first screen is shown."""
    driver.find_element(By.CSS_SELECTOR, f"[data-testid='stSidebarNav'] a[href$='/{page}']").click()
    return wait_rendered(driver, title)


@contextmanager
def browsing(workspace: Path) -> Iterator[tuple[webdriver.Chrome, str]]:
    """The app on `workspace` and a headless Chromium to visit it: (driver, base URL); both stopped after."""
    process, url = start_app(workspace)
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    try:
        driver = chromium(Path(profile))
        try:
            yield driver, url
        finally:
            driver.quit()
    finally:
        stop_app(process)
        shutil.rmtree(profile, ignore_errors=True)
