"""Browser fixtures: the app served by `streamlit run` on a free port, and headless Chromium.

    def test_something(app_server, ui, demo_ws):
        url = app_server(demo_ws.root)          # starts the app on that workspace
        ui.open(url + "/export")
        ui.wait_text("Export")
        ui.screenshot("export")                  # saved under test-artifacts/
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1280,800"]


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def app_server():
    """A factory: app_server(workspace_root, **env) -> base URL of a running app; stopped after the test."""
    processes = []

    def start(workspace: Path, **env: str) -> str:
        port = free_port()
        environment = {**os.environ, "DSAII_WORKSPACE": str(workspace), **env}
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(REPO / "app.py"), "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
             "--server.fileWatcherType", "none"],
            cwd=REPO, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        processes.append(process)
        url = f"http://127.0.0.1:{port}"
        deadline = time.time() + 60
        while time.time() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"app exited: {process.stdout.read().decode(errors='replace')[-2000:]}")
            try:
                if httpx.get(f"{url}/_stcore/health", timeout=1).status_code == 200:
                    return url
            except httpx.HTTPError:
                time.sleep(0.3)
        raise RuntimeError("app did not start within 60 s")

    yield start
    for process in processes:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium through Debian's chromedriver (no Selenium Manager download)."""
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    service = Service(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_window_size(1280, 800)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


class UI:
    """Small helpers over the driver for Streamlit pages."""

    def __init__(self, driver):
        self.driver = driver

    def open(self, url: str) -> None:
        self.driver.get(url)
        self.wait_idle()

    def wait_idle(self, timeout: float = 60) -> None:
        """Wait until the app has rendered and no script run is in progress."""
        wait = WebDriverWait(self.driver, timeout)
        wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "[data-testid='stApp']")))
        time.sleep(0.3)
        wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, "[data-testid='stStatusWidget'] [data-testid='stStatusWidgetRunningIcon'], [data-testid='stStatusWidgetRunningIcon']"))

    def wait_text(self, text: str, timeout: float = 60) -> None:
        WebDriverWait(self.driver, timeout).until(lambda d: text in d.find_element(By.TAG_NAME, "body").text)

    def wait_for(self, css: str, timeout: float = 60):
        """The first element matching a CSS selector, once it is in the page."""
        return WebDriverWait(self.driver, timeout).until(EC.presence_of_element_located((By.CSS_SELECTOR, css)))

    def text(self) -> str:
        return self.driver.find_element(By.TAG_NAME, "body").text

    def click_button(self, label: str, timeout: float = 30) -> None:
        xpath = f"//button[.//*[normalize-space(text())='{label}'] or normalize-space(text())='{label}']"
        button = WebDriverWait(self.driver, timeout).until(EC.element_to_be_clickable((By.XPATH, xpath)))
        button.click()

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path


@pytest.fixture
def ui(browser) -> UI:
    return UI(browser)
