"""The browser engine in headless Chromium against the fake search site, through an engine file
written exactly like the shipped Google / Bing ones (tests/fixtures/fake_engine.toml)."""

from pathlib import Path

import numpy as np
import pytest

from dsaii_core import imageio
from dsaii_core.collect.engines import load_engine
from dsaii_core.errors import DsaiiError

ENGINE_FILE = Path(__file__).resolve().parents[1] / "fixtures" / "fake_engine.toml"


@pytest.fixture
def site(web):
    web.use_results([f"/img/{name}.png" for name in web.images]
                    + [f"/img/{name}.png?n={i}" for i, name in enumerate(web.images)])  # 18 results, 3 pages
    return web


def test_keyword_search_reads_js_results_lazy_images_infinite_scroll_and_more_button(site, tmp_path):
    engine = load_engine(ENGINE_FILE, base_url=site.url(""), cache_dir=tmp_path / "cache")
    found = engine.search(query="hazel nut", limit=50)
    assert [c.url for c in found] == [r["image"] for r in site.results]  # all 3 pages, in order
    assert found[0].page_url == site.url("/page/0") and found[0].title == "result 0"
    assert found[0].query == "hazel nut" and found[0].engine == "fake_engine"
    assert any(path.startswith("/search?q=hazel+nut") for path, _ in site.requests)
    assert not list((tmp_path / "cache" / "browser").iterdir())  # the browser profile is removed


def test_search_stops_at_the_limit(site):
    found = load_engine(ENGINE_FILE, base_url=site.url("")).search(query="x", limit=4)
    assert len(found) == 4


def test_reverse_search_uploads_the_reference_through_the_file_input(site):
    reference = np.asarray(site.images["rocket"])
    uploads_before = len(site.uploads)
    found = load_engine(ENGINE_FILE, base_url=site.url("")).search(reference=reference, limit=8)
    assert len(found) == 8 and found[0].query is None
    uploaded = site.uploads[uploads_before]
    assert np.array_equal(imageio.read_image(uploaded), reference)


def test_a_changed_layout_gives_one_clear_error_naming_the_selector(site, tmp_path):
    changed = tmp_path / "changed.toml"
    changed.write_text(ENGINE_FILE.read_text().replace('item = "div.result"', 'item = "div.tile"')
                       .replace("page_s = 10", "page_s = 2"))
    with pytest.raises(DsaiiError, match=r"results.item 'div.tile' found nothing\); update .*changed.toml"):
        load_engine(changed, base_url=site.url("")).search(query="x", limit=5)
