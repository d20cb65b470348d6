"""Browser fixtures: the app served by `streamlit run` on a free port, and headless Chromium.

    def test_something(app_server, ui, demo_ws):
        url = app_server(demo_ws.root)          # starts the app on that workspace
        ui.open(url + "/export")
        ui.wait_text("Export")
        ui.screenshot("export")                  # saved under test-artifacts/
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import pytest
from selenium.common.exceptions import (ElementClickInterceptedException, ElementNotInteractableException,
                                        NoSuchElementException, StaleElementReferenceException)
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from scripts.browser import REPO, chromium, start_app, stop_app

ARTIFACTS = REPO / "test-artifacts"


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture
def app_server():
    """A factory: app_server(workspace_root, **env) -> base URL of a running app; stopped after the test."""
    processes = []

    def start(workspace: Path, **env: str) -> str:
        process, url = start_app(workspace, **env)
        processes.append(process)
        return url

    yield start
    for process in processes:
        stop_app(process)


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium (see scripts/browser.py), shared by the session's tests."""
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    driver = chromium(profile)
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

    def click(self, css: str, timeout: float = 60) -> None:
        """Click the element matching `css`, retrying while a rerun replaces it or an animation hides it."""
        def attempt(driver):
            try:
                driver.find_element(By.CSS_SELECTOR, css).click()
                return True
            except (StaleElementReferenceException, NoSuchElementException, ElementClickInterceptedException,
                    ElementNotInteractableException):  # e.g. inside an expander still opening
                return False
        WebDriverWait(self.driver, timeout).until(attempt)

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
