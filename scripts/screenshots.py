"""Screenshot every page of the app on a workspace in headless Chromium (README tour, UI reviews).

    python -m scripts.screenshots WORKSPACE OUT_DIR
"""

import sys
from pathlib import Path

from scripts.browser import browsing, navigate, wait_rendered

PAGES = {"curate": "Curate", "object_masks": "Object masks", "anomaly_masks": "Anomaly masks",
         "inpaint": "Inpaint", "review": "Review", "export": "Export", "benchmark": "Benchmark", "": "Collect"}


def main(workspace: str, out: str) -> None:
    Path(out).mkdir(parents=True, exist_ok=True)
    with browsing(Path(workspace)) as (driver, url):
        driver.get(url)
        wait_rendered(driver, "Collect")
        for page, title in PAGES.items():
            seconds = navigate(driver, page, title)
            driver.save_screenshot(str(Path(out) / f"{page or 'collect'}.png"))
            print(f"{page or 'collect'}: {seconds:.1f} s")


if __name__ == "__main__":
    main(*sys.argv[1:3])
