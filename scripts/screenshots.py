"""Screenshot every page of the app on a workspace in headless Chromium (README tour, UI reviews).

    python -m scripts.screenshots WORKSPACE OUT_DIR [CLASS]

The two mask pages are shown with the mask editor open on their first mask.
"""

import sys
import time
from pathlib import Path

from selenium.webdriver.common.by import By

from scripts.browser import browsing, navigate, wait_rendered

PAGES = {"curate": "Curate", "object_masks": "Object masks", "anomaly_masks": "Anomaly masks",
         "inpaint": "Inpaint", "review": "Review", "export": "Export", "benchmark": "Benchmark", "": "Collect"}


def pick_class(driver, name: str) -> None:
    """Choose `name` in the sidebar's class picker."""
    driver.find_element(By.CSS_SELECTOR, "[data-testid='stSidebar'] [data-testid='stSelectbox'] input").click()
    time.sleep(0.5)
    options = driver.find_elements(By.CSS_SELECTOR, "[role='option']")
    next(o for o in options if o.text.strip().startswith(name)).click()
    time.sleep(1)
    wait_rendered(driver)


EDITOR_READY = ("for (const host of document.querySelectorAll('*')) {"
                "  const root = host.shadowRoot && host.shadowRoot.querySelector('.me');"
                "  if (root && root.dataset.state === 'ready') return host; } return null;")
OPEN_EDITOR = {"object_masks": "[class*='st-key-om_open_'] button", "anomaly_masks": "[class*='st-key-am_edit_'] button"}


def open_editor(driver, button: str, timeout_s: float = 60) -> None:
    """Click the first button matching `button` (it opens the mask editor) and scroll the editor into view."""
    buttons = driver.find_elements(By.CSS_SELECTOR, button)
    if not buttons:
        return
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", buttons[0])
    buttons[0].click()
    wait_rendered(driver)
    started = time.time()
    while (host := driver.execute_script(EDITOR_READY)) is None and time.time() - started < timeout_s:
        time.sleep(0.2)
    if host is not None:  # from the controls above it (the page's header covers the top 60 px)
        driver.execute_script(
            "const host = arguments[0]; host.scrollIntoView({block: 'start'});"
            "let box = host.parentElement;"
            "while (box && !(box.scrollHeight > box.clientHeight && getComputedStyle(box).overflowY !== 'visible'))"
            "  box = box.parentElement;"
            "(box || document.scrollingElement).scrollBy(0, -arguments[1]);", host, 70)


def main(workspace: str, out: str, class_name: str | None = None) -> None:
    Path(out).mkdir(parents=True, exist_ok=True)
    with browsing(Path(workspace)) as (driver, url):
        driver.set_window_size(1280, 1200)
        driver.get(url)
        wait_rendered(driver, "Collect")
        if class_name:
            pick_class(driver, class_name)
        for page, title in PAGES.items():
            seconds = navigate(driver, page, title)
            if page in OPEN_EDITOR:
                open_editor(driver, OPEN_EDITOR[page])
            time.sleep(2)  # let images and charts finish drawing
            driver.save_screenshot(str(Path(out) / f"{page or 'collect'}.png"))
            print(f"{page or 'collect'}: first screen in {seconds:.1f} s")


if __name__ == "__main__":
    main(*sys.argv[1:4])
