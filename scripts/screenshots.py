"""Screenshot every page of the app on a workspace in headless Chromium (README tour, UI reviews).

    python -m scripts.screenshots WORKSPACE OUT_DIR [CLASS]
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
            time.sleep(2)  # let images and charts finish drawing
            driver.save_screenshot(str(Path(out) / f"{page or 'collect'}.png"))
            print(f"{page or 'collect'}: first screen in {seconds:.1f} s")


if __name__ == "__main__":
    main(*sys.argv[1:4])
