"""Browser engines: a real search page driven by Selenium in headless Chromium.

Everything specific to one site lives in its engine file (see google_lens.toml for the fields):
the URLs, the clicks that open the upload dialog, the file input that takes the reference image,
the result selectors, the attribute holding the image URL, and how more results appear (scrolling,
a "more" button). Waits are explicit (WebDriverWait on a condition), never fixed sleeps. When the
page no longer matches the file, one DsaiiError says which selector failed and which file to fix.
Every page the engine opens must be http(s) on an address the downloads' policy allows (see netsafety).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qs, quote_plus, urljoin, urlsplit

import numpy as np
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from dsaii_core import imageio
from dsaii_core.collect.engines import Candidate
from dsaii_core.collect.netsafety import AddressPolicy
from dsaii_core.errors import DsaiiError

CHROMIUM = os.environ.get("DSAII_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("DSAII_CHROMEDRIVER", "/usr/bin/chromedriver")
CHROMIUM_FLAGS = ("--headless=new", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1280,1000")


def chromium_flags(profile_dir: Path) -> list[str]:
    """Chromium's command-line flags: its sandbox stays on unless we run as root.

    The sandbox is what keeps a hostile page's exploit inside the renderer process. Chromium will not
    start as root unless told --no-sandbox (crbug.com/638180: a sandbox cannot confine root), so only then
    is it switched off; on a server, run the app as an ordinary user.
    """
    sandbox = ["--no-sandbox"] if os.geteuid() == 0 else []
    return [*CHROMIUM_FLAGS, *sandbox, f"--user-data-dir={profile_dir}"]


def make_driver(profile_dir: Path) -> WebDriver:
    """Headless Chromium through the system chromedriver (no Selenium Manager download)."""
    if not Path(CHROMEDRIVER).is_file() or not Path(CHROMIUM).is_file():
        raise DsaiiError(f"browser engines need Chromium and chromedriver ({CHROMIUM}, {CHROMEDRIVER}); "
                         "install them (Debian: apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    flags = chromium_flags(profile_dir)
    for flag in flags:
        options.add_argument(flag)
    try:
        return webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    except WebDriverException as exc:
        hint = ("" if "--no-sandbox" in flags else " (Chromium's sandbox needs unprivileged user namespaces, "
                "kernel.unprivileged_userns_clone=1, or the setuid chrome-sandbox helper)")
        raise DsaiiError(f"cannot start headless Chromium: {exc.msg or exc}{hint}") from exc


def _is_web_url(value: str | None) -> bool:
    return bool(value) and urlsplit(value).scheme in ("http", "https")


class BrowserEngine:
    """A search site described by an engine file, searched in headless Chromium."""

    def __init__(self, spec: dict, driver_factory: Callable[[Path], WebDriver] | None = None,
                 scratch_dir: Path | None = None, policy: AddressPolicy = AddressPolicy()):
        self.name = spec["name"]
        self.policy = policy
        self.scratch_dir = scratch_dir
        self.spec = spec
        self.file = spec.get("file", f"{self.name}.toml")
        has_reverse, has_keyword = "reverse" in spec, "keyword" in spec
        self.needs = "either" if has_reverse and has_keyword else ("reference" if has_reverse else "query")
        if "results" not in spec or not (has_reverse or has_keyword):
            raise DsaiiError(f"engine file {self.file}: needs a [results] table and [reverse] or [keyword]")
        self.driver_factory = driver_factory or make_driver
        self.timeouts = {"page_s": 20.0, **spec.get("timeouts", {})}

    def _layout_error(self, what: str, selector: str) -> DsaiiError:
        return DsaiiError(f"engine {self.name}: the page no longer matches its engine file ({what} "
                          f"'{selector}' found nothing); update {self.file}")

    def search(self, reference: np.ndarray | None = None, query: str | None = None,
               limit: int = 50) -> list[Candidate]:
        use_reverse = reference is not None and "reverse" in self.spec
        if not use_reverse and not (query and "keyword" in self.spec):
            raise DsaiiError(f"engine {self.name} needs "
                             + ("a reference image" if self.needs == "reference" else "a query"))
        page = self.spec["reverse" if use_reverse else "keyword"]["url"].format(
            base_url=self.spec.get("base_url", ""), query=quote_plus(query or ""))
        self.policy.resolve(page)  # refused before Chromium starts
        if self.scratch_dir is not None:
            Path(self.scratch_dir).mkdir(parents=True, exist_ok=True)
        workdir = Path(tempfile.mkdtemp(prefix="dsaii-browser-", dir=self.scratch_dir))
        try:
            driver = self.driver_factory(workdir / "profile")
            try:
                driver.set_page_load_timeout(self.timeouts["page_s"])
                if use_reverse:
                    self._upload(driver, page, reference, workdir / "reference.png")
                else:
                    self._open(driver, page)
                    self._dismiss_consent(driver)
                return self._collect(driver, limit, None if use_reverse else query)
            except TimeoutException as exc:
                raise DsaiiError(f"engine {self.name}: the page did not load in time") from exc
            except WebDriverException as exc:
                raise DsaiiError(f"engine {self.name}: browser error: {(exc.msg or str(exc)).splitlines()[0]}") from exc
            finally:
                driver.quit()
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def _open(self, driver: WebDriver, url: str) -> None:
        """Load `url` once it passes the downloads' address policy (http(s) only: never file:, chrome:,
        javascript:), and check where redirects led."""
        self.policy.resolve(url)
        driver.get(url)
        landed = driver.current_url
        if urlsplit(landed).scheme in ("http", "https") and landed != url:
            self.policy.resolve(landed)

    def _dismiss_consent(self, driver: WebDriver) -> None:
        for selector in self.spec.get("consent", []):
            for button in driver.find_elements(By.CSS_SELECTOR, selector):
                if button.is_displayed():
                    button.click()
                    break

    def _upload(self, driver: WebDriver, page: str, reference: np.ndarray, path: Path) -> None:
        """Open the reverse-search page and give it the reference image through its file input."""
        reverse = self.spec["reverse"]
        imageio.write_png(path, reference)
        self._open(driver, page)
        self._dismiss_consent(driver)
        wait = WebDriverWait(driver, self.timeouts["page_s"])
        for selector in reverse.get("click", []):
            try:
                wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, selector))).click()
            except TimeoutException as exc:
                raise self._layout_error("reverse.click", selector) from exc
        selector = reverse.get("file_input", "input[type='file']")
        try:
            field = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, selector)))
        except TimeoutException as exc:
            raise self._layout_error("reverse.file_input", selector) from exc
        field.send_keys(str(path))
        if reverse.get("submit"):
            try:
                wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, reverse["submit"]))).click()
            except TimeoutException as exc:
                raise self._layout_error("reverse.submit", reverse["submit"]) from exc

    def _collect(self, driver: WebDriver, limit: int, query: str | None) -> list[Candidate]:
        """Read results, scrolling / clicking "more" until `limit` or no new results appear."""
        results, more = self.spec["results"], self.spec.get("more", {})
        item_selector = results["item"]
        try:
            WebDriverWait(driver, self.timeouts["page_s"]).until(
                EC.presence_of_element_located((By.CSS_SELECTOR, item_selector)))
        except TimeoutException as exc:
            raise self._layout_error("results.item", item_selector) from exc
        found: dict[str, Candidate] = {}
        seen, rounds = 0, 0
        while True:
            items = driver.find_elements(By.CSS_SELECTOR, item_selector)
            for element in items[seen:]:
                candidate = self._candidate(driver, element, query)
                if candidate is not None and candidate.url not in found:
                    found[candidate.url] = candidate
                if len(found) >= limit:
                    return list(found.values())
            if seen == 0 and items and not found:
                raise self._layout_error("results.image / image_attributes", results.get("image", ""))
            seen = len(items)
            if rounds >= int(more.get("scroll_rounds", 3)) or not self._load_more(driver, item_selector, seen, more):
                return list(found.values())
            rounds += 1

    def _load_more(self, driver: WebDriver, item_selector: str, count: int, more: dict) -> bool:
        """Scroll to the end (and click "more" when shown); True when new results appeared in time."""
        driver.execute_script("window.scrollTo(0, document.body.scrollHeight);")
        if more.get("button"):
            for button in driver.find_elements(By.CSS_SELECTOR, more["button"]):
                if button.is_displayed() and button.is_enabled():
                    driver.execute_script("arguments[0].click();", button)
                    break
        try:
            WebDriverWait(driver, float(more.get("wait_s", 3))).until(
                lambda d: len(d.find_elements(By.CSS_SELECTOR, item_selector)) > count)
        except TimeoutException:
            return False
        return True

    def _attribute_url(self, element: WebElement, names: list[str], base: str) -> str | None:
        for name in names:
            value = element.get_attribute(name)
            if value and not value.startswith("data:"):
                absolute = urljoin(base, value.strip())
                if _is_web_url(absolute):
                    return absolute
        return None

    def _candidate(self, driver: WebDriver, element: WebElement, query: str | None) -> Candidate | None:
        """The candidate one result element shows; lazy images are scrolled into view first."""
        results = self.spec["results"]
        base = driver.current_url
        try:
            image = element.find_element(By.CSS_SELECTOR, results["image"]) if results.get("image") else element
            link_selector = results.get("link")
            links = element.find_elements(By.CSS_SELECTOR, link_selector) if link_selector else []
            link = self._attribute_url(links[0], [results.get("link_attribute", "href")], base) if links else None
            names = results.get("image_attributes", ["src"])
            url = page_url = title = None
            if results.get("json_attribute"):  # e.g. Bing keeps {"murl": image, "purl": page} in one attribute
                data = json.loads(element.get_attribute(results["json_attribute"]) or "{}")
                url, page_url, title = (data.get(results.get(key, "")) for key in ("json_image", "json_page",
                                                                                   "json_title"))
            if results.get("image_url_param") and link:
                url = (parse_qs(urlsplit(link).query).get(results["image_url_param"]) or [None])[0]
            if url is None:
                url = self._attribute_url(image, names, base)
            if url is None:  # lazy loading: the real URL appears once the image is in view
                driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", image)
                try:
                    url = WebDriverWait(driver, float(self.spec.get("more", {}).get("wait_s", 3))).until(
                        lambda d: self._attribute_url(image, names, base))
                except TimeoutException:
                    return None
            if page_url is None:
                page_url = link
                if results.get("page_url_param") and link:
                    page_url = (parse_qs(urlsplit(link).query).get(results["page_url_param"]) or [link])[0]
            if title is None:
                title_attribute = results.get("title_attribute", "alt")
                title = element.text if title_attribute == "text" else image.get_attribute(title_attribute)
        except (StaleElementReferenceException, ValueError):
            return None
        if not _is_web_url(url):
            return None
        return Candidate(url=url, page_url=page_url, title=(title or "").strip() or None, engine=self.name,
                         query=query)
