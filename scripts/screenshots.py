"""Screenshot every page of the app on a workspace in headless Chromium (README tour, UI reviews).

    python -m scripts.screenshots WORKSPACE OUT_DIR
"""

import shutil
import sys
import tempfile
from pathlib import Path

from scripts.browser import chromium, start_app, stop_app, wait_rendered

PAGES = ["collect", "curate", "object_masks", "anomaly_masks", "inpaint", "review", "export", "benchmark"]


def main(workspace: str, out: str) -> None:
    process, url = start_app(Path(workspace))
    profile = tempfile.mkdtemp()
    driver = chromium(Path(profile))
    try:
        Path(out).mkdir(parents=True, exist_ok=True)
        for page in PAGES:
            driver.get(f"{url}/{page}")
            seconds = wait_rendered(driver)
            driver.save_screenshot(str(Path(out) / f"{page}.png"))
            print(f"{page}: {seconds:.1f} s")
    finally:
        driver.quit()
        stop_app(process)
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    main(*sys.argv[1:3])
