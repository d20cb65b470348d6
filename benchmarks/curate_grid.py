"""Curate page speed with thousands of candidates.

Builds workspaces of 200 and 2,000 crawled-looking candidates (real photo crops, 128 px, with
provenance, hashes and similarity), then times:
  - `curate.candidate_page` (filter + near-duplicate grouping + one page), first and last page;
  - the Curate page itself in Streamlit's AppTest: first render (thumbnails decoded), "Next" page,
    one Keep click (a fragment rerun);
  - baselines: decoding and thumbnailing every candidate, and rendering an unpaginated grid of all of
    them with the shared `image_grid` widget in AppTest (what a page without pagination would do).
Run: .venv/bin/python benchmarks/curate_grid.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from streamlit.testing.v1 import AppTest  # noqa: E402

from dsaii_core import imageio  # noqa: E402
from dsaii_core.collect import curate  # noqa: E402
from dsaii_core.workspace import Workspace  # noqa: E402
from tests.collect.candidates import add_candidates  # noqa: E402


def timed(function, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(count: int, root: Path) -> dict[str, float]:
    ws = Workspace.create(root)
    start = time.perf_counter()
    add_candidates(ws, "parts", count, side=128)
    build = time.perf_counter() - start
    cls = ws.get_class("parts")
    first = timed(lambda: curate.candidate_page(ws, cls, page=0, per_page=40))
    last = timed(lambda: curate.candidate_page(ws, cls, page=10_000, per_page=40))
    at = AppTest.from_file(str(REPO / "app_pages/curate.py"), default_timeout=300)
    at.session_state["workspace_path"] = str(root)
    start = time.perf_counter()
    at.run()
    render = time.perf_counter() - start
    assert not at.exception, at.exception
    start = time.perf_counter()
    at.button(key="curate_next").click().run()
    next_page = time.perf_counter() - start
    shown = next(b.key for b in at.button if b.key and b.key.startswith("keep_"))
    start = time.perf_counter()
    at.button(key=shown).click().run()
    keep = time.perf_counter() - start
    files = [ws.path(item.file) for item in ws.catalog.items(cls.id)]
    start = time.perf_counter()
    for path in files:
        imageio.thumbnail(imageio.read_image(path), 192)
    baseline = time.perf_counter() - start
    start = time.perf_counter()
    grid = AppTest.from_function(_unpaginated_grid, default_timeout=600)
    grid.session_state["workspace_path"] = str(root)
    grid.run()
    assert not grid.exception, grid.exception
    unpaginated = time.perf_counter() - start
    return {"build_s": build, "page_query_first_ms": first * 1e3, "page_query_last_ms": last * 1e3,
            "page_render_s": render, "next_page_s": next_page, "keep_click_s": keep, "baseline_all_thumbs_s": baseline,
            "baseline_unpaginated_page_s": unpaginated}


def _unpaginated_grid() -> None:
    from app_pages._ui import current_workspace, image_grid
    ws = current_workspace()
    image_grid([ws.path(item.file) for item in ws.catalog.items()], thumb=192)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        results = {n: measure(n, Path(tmp) / f"ws{n}") for n in (200, 2000)}
    print(f"{'figure':28s} {'200 candidates':>16s} {'2000 candidates':>16s}")
    for key in results[200]:
        print(f"{key:28s} {results[200][key]:16.3f} {results[2000][key]:16.3f}")
    big = results[2000]
    print(f"\n2,000 candidates: first page renders in {big['page_render_s']:.2f} s, next page {big['next_page_s']:.2f} s, "
          f"a Keep click {big['keep_click_s']:.2f} s; baseline (decode all 2,000 thumbnails) "
          f"{big['baseline_all_thumbs_s']:.2f} s = {big['baseline_all_thumbs_s'] / big['page_render_s']:.1f}× the paginated "
          f"first render; an unpaginated grid page {big['baseline_unpaginated_page_s']:.2f} s = "
          f"{big['baseline_unpaginated_page_s'] / big['page_render_s']:.1f}×.")
    print(f"Scaling 200 → 2,000 candidates (10×): page query ×{big['page_query_first_ms'] / results[200]['page_query_first_ms']:.1f}, "
          f"next page ×{big['next_page_s'] / results[200]['next_page_s']:.1f}, keep click ×{big['keep_click_s'] / results[200]['keep_click_s']:.1f}.")


if __name__ == "__main__":
    main()
