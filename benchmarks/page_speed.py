"""Page-speed budget with a large workspace: seconds from navigation to the first screen, per page.

Opens every page in headless Chromium, first visit and a second one (warm caches), and prints the seconds
each took. Budget (issue 15): the app's first load under 2 s, every page's first screen under 1 s.
Realistic: the workspace a seed-sized run leaves (`benchmarks/bench_seed_run.py --workspace DIR`: masks,
anomalies, a benchmark run), given with --workspace. Without one, a workspace of 78 classes × 40 normal
images (real demo images, recoloured so each is unique) is generated once.

    python -m benchmarks.page_speed [--workspace /tmp/seed-run]  [--classes 78] [--per-class 40]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from dsaii_core import imageio
from dsaii_core.demo import DEMO_DIR
from dsaii_core.workspace import Workspace
from scripts.browser import browsing, navigate, wait_rendered

PAGES = {"curate": "Curate", "object_masks": "Object masks", "anomaly_masks": "Anomaly masks", "inpaint": "Inpaint",
         "review": "Review", "export": "Export", "benchmark": "Benchmark", "": "Collect"}  # "" = the default page
FIRST_LOAD_BUDGET_S, PAGE_BUDGET_S = 2.0, 1.0


def make_large_workspace(root: Path, classes: int, per_class: int) -> Workspace:
    """78 × 40 unique normal images from the demo's real pictures (each tinted by its index)."""
    if (root / "dsaii.sqlite").is_file():
        return Workspace.open(root)
    ws = Workspace.create(root)
    sources = [imageio.thumbnail(imageio.read_image(p), 128)
               for p in sorted(DEMO_DIR.glob("*/train/good/*"))[:per_class]]
    for c in range(classes):
        cls = ws.add_class(f"class_{c:03d}", "texture" if c % 5 == 0 else "object")
        for i in range(per_class):
            image = sources[i % len(sources)].astype(np.int16)
            image = np.clip(image + np.array([c % 7, c % 11, i % 13]) * 3 - 15, 0, 255).astype(np.uint8)
            ws.add_image(cls, image, status="candidate" if i % 4 == 0 else "kept")
    return ws


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--classes", type=int, default=78)
    parser.add_argument("--per-class", type=int, default=40)
    parser.add_argument("--workspace", type=Path, default=Path(tempfile.gettempdir()) / "dsaii-large-ws")
    args = parser.parse_args()
    started = time.time()
    ws = make_large_workspace(args.workspace, args.classes, args.per_class)
    anomalies = len(ws.catalog.items(role="anomaly"))
    print(f"workspace: {len(ws.catalog.classes())} classes, {len(ws.catalog.items())} images ({anomalies} anomalies), "
          f"{len(ws.catalog.runs())} benchmark run(s) ({time.time() - started:.0f} s to prepare) at {ws.root}")
    with browsing(ws.root) as (driver, url):
        driver.get(url)
        first = wait_rendered(driver, "Collect")
        print(f"first load of the app (front-end + sidebar + Collect): {first:.2f} s  "
              f"{'ok' if first < FIRST_LOAD_BUDGET_S else 'OVER'} (budget {FIRST_LOAD_BUDGET_S} s)")
        print(f"{'page':<14}{'first visit s':>15}{'second visit s':>16}  budget {PAGE_BUDGET_S} s")
        rows = {page: [] for page in PAGES}
        for _ in range(2):
            for page, title in PAGES.items():
                rows[page].append(navigate(driver, page, title))
        for page, times in rows.items():
            verdict = "ok" if max(times) < PAGE_BUDGET_S else "OVER"
            print(f"{page or 'collect':<14}{times[0]:>15.2f}{times[1]:>16.2f}  {verdict}")


if __name__ == "__main__":
    main()
