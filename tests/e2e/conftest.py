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
                                        NoSuchElementException, StaleElementReferenceException,
                                        TimeoutException)
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from scripts.browser import REPO, chromium, start_app, stop_app, wait_rendered
from tests.e2e.editor_driver import Editor

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

    def wait_settled(self, quiet_s: float = 1.5, timeout: float = 60) -> None:
        """Wait until no script run has been seen for `quiet_s`: on a loaded machine a rerun may start
        later than wait_idle's short grace, and a click in between reaches the page drawn before it."""
        running = "[data-testid='stStatusWidgetRunningIcon']"
        quiet_since = [time.monotonic()]

        def quiet(driver) -> bool:
            if driver.find_elements(By.CSS_SELECTOR, running):
                quiet_since[0] = time.monotonic()
            return time.monotonic() - quiet_since[0] >= quiet_s
        WebDriverWait(self.driver, timeout, poll_frequency=0.1).until(quiet)

    def wait_text(self, text: str, timeout: float = 60) -> None:
        # A rerun may replace the page's elements while it is read: look again.
        WebDriverWait(self.driver, timeout, ignored_exceptions=(StaleElementReferenceException,)).until(
            lambda d: text in d.find_element(By.TAG_NAME, "body").text)

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

    def wait_until(self, condition, timeout: float = 90):
        """Wait for a condition outside the page, e.g. on the catalog (the app writes it from its own thread)."""
        return WebDriverWait(self.driver, timeout, poll_frequency=0.2).until(lambda d: condition())

    def select(self, key: str, option: str, timeout: float = 60) -> None:
        """Pick `option` in the selectbox with widget key `key` (again if a rerun closed its list meanwhile)."""
        field, xpath = f".st-key-{key} input", f"//*[@role='option'][normalize-space(.)='{option}']"

        def attempt(driver) -> bool:
            try:
                if driver.find_element(By.CSS_SELECTOR, field).get_attribute("value") == option:
                    return True
                element = driver.find_element(By.CSS_SELECTOR, field)
                driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)  # not under the header
                element.click()
                WebDriverWait(driver, 5).until(EC.element_to_be_clickable((By.XPATH, xpath))).click()
            except (StaleElementReferenceException, NoSuchElementException, ElementClickInterceptedException,
                    ElementNotInteractableException, TimeoutException):
                pass
            return False
        WebDriverWait(self.driver, timeout, poll_frequency=1).until(attempt)
        self.wait_idle()

    def fill(self, css: str, text: str) -> None:
        """Replace the text of the input matching `css` with `text` and submit it (Enter); again when a rerun that
        was under way (a callback setting the field, say) replaced what was typed."""
        for _ in range(3):
            field = self.wait_for(css)
            field.send_keys(Keys.CONTROL, "a")
            field.send_keys(Keys.BACKSPACE)
            field.send_keys(text + "\n")
            self.wait_idle()
            try:
                if self.wait_for(css).get_attribute("value") == text:
                    return
            except StaleElementReferenceException:
                pass
        raise AssertionError(f"{css} does not keep the text {text!r}")

    def go(self, page: str, title: str, timeout: float = 60) -> None:
        """Open a page through its sidebar link, in this session (`open` would start a new one)."""
        self.click(f"[data-testid='stSidebarNav'] a[href$='/{page}']", timeout)
        wait_rendered(self.driver, title, timeout)
        self.wait_idle(timeout)

    def choose(self, key: str, label: str, timeout: float = 60) -> None:
        """Click the option `label` of the radio (or checkbox group) with widget key `key`."""
        xpath = f"//*[contains(@class, 'st-key-{key}')]//label[.//*[normalize-space(text())='{label}']]"
        WebDriverWait(self.driver, timeout).until(lambda d: d.find_elements(By.XPATH, xpath))[0].click()
        self.wait_idle()

    def editor(self) -> Editor:
        """The page's mask editor (app_pages/mask_editor), driven with real pointer and key events."""
        return Editor(self.driver)

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path


@pytest.fixture
def ui(browser) -> UI:
    return UI(browser)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed browser test leaves a screenshot of where the page stood, test-artifacts/failed-<test>.png."""
    outcome = yield
    report = outcome.get_result()
    ui = item.funcargs.get("ui") if report.when == "call" and report.failed else None
    if ui is not None:
        try:
            ui.screenshot(f"failed-{item.name}")
        except Exception:  # noqa: BLE001 - a dead browser must not hide the test's own failure
            pass
