"""Screenshot every page of the app on a workspace in headless Chromium (README tour, UI reviews).

    python -m scripts.screenshots WORKSPACE OUT_DIR
"""

import sys
from pathlib import Path

from scripts.browser import browsing, wait_rendered

PAGES = ["collect", "curate", "object_masks", "anomaly_masks", "inpaint", "review", "export", "benchmark"]


def main(workspace: str, out: str) -> None:
    Path(out).mkdir(parents=True, exist_ok=True)
    with browsing(Path(workspace)) as (driver, url):
        for page in PAGES:
            driver.get(f"{url}/{page}")
            seconds = wait_rendered(driver)
            driver.save_screenshot(str(Path(out) / f"{page}.png"))
            print(f"{page}: {seconds:.1f} s")


if __name__ == "__main__":
    main(*sys.argv[1:3])
