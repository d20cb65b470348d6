"""The browser engine in headless Chromium against the fake search site, through an engine file
written exactly like the shipped Google / Bing ones (tests/fixtures/fake_engine.toml)."""

from pathlib import Path

import numpy as np
import pytest

from dsaii_core import imageio
from dsaii_core.collect.engines import load_engine
from dsaii_core.collect.engines.browser import chromium_flags
from dsaii_core.collect.netsafety import AddressRefused
from dsaii_core.errors import DsaiiError
from tests.collect.conftest import LOOPBACK

ENGINE_FILE = Path(__file__).resolve().parents[1] / "fixtures" / "fake_engine.toml"


@pytest.fixture
def site(web):
    web.use_results([f"/img/{name}.png" for name in web.images]
                    + [f"/img/{name}.png?n={i}" for i, name in enumerate(web.images)])  # 18 results, 3 pages
    return web


def test_keyword_search_reads_js_results_lazy_images_infinite_scroll_and_more_button(site, tmp_path):
    engine = load_engine(ENGINE_FILE, base_url=site.url(""), cache_dir=tmp_path / "cache", allow_private=LOOPBACK)
    found = engine.search(query="hazel nut", limit=50)
    assert [c.url for c in found] == [r["image"] for r in site.results]  # all 3 pages, in order
    assert found[0].page_url == site.url("/page/0") and found[0].title == "result 0"
    assert found[0].query == "hazel nut" and found[0].engine == "fake_engine"
    assert any(path.startswith("/search?q=hazel+nut") for path, _ in site.requests)
    assert not list((tmp_path / "cache" / "browser").iterdir())  # the browser profile is removed


def test_search_stops_at_the_limit(site):
    found = load_engine(ENGINE_FILE, base_url=site.url(""), allow_private=LOOPBACK).search(query="x", limit=4)
    assert len(found) == 4


def test_reverse_search_uploads_the_reference_through_the_file_input(site):
    reference = np.asarray(site.images["rocket"])
    uploads_before = len(site.uploads)
    found = load_engine(ENGINE_FILE, base_url=site.url(""), allow_private=LOOPBACK).search(reference=reference, limit=8)
    assert len(found) == 8 and found[0].query is None
    uploaded = site.uploads[uploads_before]
    assert np.array_equal(imageio.read_image(uploaded), reference)


def test_a_changed_layout_gives_one_clear_error_naming_the_selector(site, tmp_path):
    changed = tmp_path / "changed.toml"
    changed.write_text(ENGINE_FILE.read_text().replace('item = "div.result"', 'item = "div.tile"')
                       .replace("page_s = 10", "page_s = 2"))
    with pytest.raises(DsaiiError, match=r"results.item 'div.tile' found nothing\); update .*changed.toml"):
        load_engine(changed, base_url=site.url(""), allow_private=LOOPBACK).search(query="x", limit=5)


def test_chromium_keeps_its_sandbox_unless_run_as_root(monkeypatch, tmp_path):
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    assert "--no-sandbox" not in chromium_flags(tmp_path)
    monkeypatch.setattr("os.geteuid", lambda: 0)
    assert "--no-sandbox" in chromium_flags(tmp_path)


@pytest.mark.parametrize("base_url", ["file:///etc", "chrome://settings", "javascript:alert(1)", "ftp://x.org"])
def test_a_base_url_that_is_not_http_is_refused(base_url):
    with pytest.raises(DsaiiError, match=r"is not an http\(s\) URL"):
        load_engine(ENGINE_FILE, base_url=base_url, allow_private=True)


class NoBrowser:
    """A driver factory that records whether Chromium would have started."""

    def __init__(self):
        self.started = 0

    def __call__(self, profile_dir):
        self.started += 1
        raise AssertionError("Chromium must not start")


@pytest.mark.parametrize("url", ["file:///etc/passwd", "chrome://version", "javascript:alert(1)"])
def test_an_engine_file_whose_page_is_not_http_is_refused_before_chromium_starts(tmp_path, url):
    local = tmp_path / "local.toml"
    local.write_text(ENGINE_FILE.read_text().replace('url = "{base_url}/search?q={query}"', f'url = "{url}"'))
    no_browser = NoBrowser()
    with pytest.raises(AddressRefused, match="only http and https"):
        load_engine(local, driver_factory=no_browser, allow_private=True).search(query="x")
    assert no_browser.started == 0


def test_a_private_base_url_needs_permission_like_downloads(site):
    no_browser = NoBrowser()
    with pytest.raises(AddressRefused, match="refused loopback address 127.0.0.1"):
        load_engine(ENGINE_FILE, base_url=site.url(""), driver_factory=no_browser).search(query="x")
    with pytest.raises(AddressRefused, match="refused link-local address 169.254.169.254"):
        load_engine(ENGINE_FILE, base_url="http://169.254.169.254", driver_factory=no_browser,
                    allow_private=True).search(query="x")
    assert no_browser.started == 0


def test_a_redirect_to_a_refused_address_stops_the_search(site):
    class Redirected:  # Chromium followed the page's redirect to the cloud metadata service
        current_url = "http://169.254.169.254/latest/meta-data/"

        def set_page_load_timeout(self, seconds):
            pass

        def get(self, url):
            pass

        def quit(self):
            pass

    with pytest.raises(AddressRefused, match="link-local address 169.254.169.254"):
        load_engine(ENGINE_FILE, base_url=site.url(""), driver_factory=lambda profile: Redirected(),
                    allow_private=LOOPBACK).search(query="x")
