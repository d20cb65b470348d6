import numpy as np
import pytest

from dsaii_core import imageio
from dsaii_core.collect.engines import engine_names, engine_spec, load_engine
from dsaii_core.collect.engines.api import openverse_license, plain_text
from dsaii_core.errors import DsaiiError

NAMES = ["coffee", "chelsea", "rocket", "astronaut", "camera", "brick", "grass"]


def test_shipped_engines_have_files_with_a_known_kind():
    assert {"openverse", "wikimedia", "google_lens", "bing", "local"} <= set(engine_names())
    for name in engine_names():
        assert engine_spec(name)["kind"] in ("openverse", "wikimedia", "browser", "local")
    with pytest.raises(DsaiiError, match="unknown engine 'nope'"):
        engine_spec("nope")


def test_openverse_pages_through_results_with_license_and_attribution(web, downloader):
    web.use_results([f"/img/{n}.png" for n in NAMES], license="by-sa")
    engine = load_engine("openverse", downloader=downloader, base_url=web.url(""))
    engine.spec["page_size"] = 3
    found = engine.search(query="hazelnut", limit=5)
    assert [c.url for c in found] == [web.url(f"/img/{n}.png") for n in NAMES[:5]]
    assert found[0].license == "CC BY-SA 4.0" and "author 0" in found[0].attribution
    assert found[0].page_url == web.url("/page/0") and found[0].engine == "openverse"
    assert found[0].query == "hazelnut"
    asked = [path for path, _ in web.requests if path.startswith("/v1/images/")][-2:]
    assert "page=2" in asked[-1] and "q=hazelnut" in asked[-1]


def test_wikimedia_follows_continue_and_strips_html_from_authors(web, downloader):
    web.use_results([f"/img/{n}.png" for n in NAMES])
    engine = load_engine("wikimedia", downloader=downloader, base_url=web.url(""))
    found = engine.search(query="screw", limit=7)
    assert len(found) == 7 and found[0].title == "result 0.png"
    assert found[0].license == "CC BY-SA 4.0"
    assert found[0].attribution == "author 0, CC BY-SA 4.0, via Wikimedia Commons"


def test_keyword_engines_need_a_query(web, downloader):
    engine = load_engine("openverse", downloader=downloader, base_url=web.url(""))
    with pytest.raises(DsaiiError, match="give a query"):
        engine.search(reference=np.zeros((8, 8, 3), np.uint8))


def test_license_names_and_markup():
    assert openverse_license("cc0", "1.0") == "CC0 1.0"
    assert openverse_license("by-nc", "2.0") == "CC BY-NC 2.0"
    assert openverse_license(None, None) is None
    assert plain_text('<a href="x">Jane &amp; Joe</a>') == "Jane & Joe"


def test_local_folder_engine_ranks_a_collection_by_similarity(web, tmp_path):
    folder = tmp_path / "collection"
    for name, array in web.images.items():
        imageio.write_png(folder / "sub" / f"{name}.png", array)
    (folder / "broken.png").write_bytes(b"not a png")
    reference = web.images["chelsea"][::2, ::2].copy()  # a smaller copy of one of them
    engine = load_engine("local", folder=folder, cache_dir=tmp_path / "cache")
    found = engine.search(reference=reference, limit=3)
    assert found[0].title == "chelsea.png" and len(found) == 3
    assert list((tmp_path / "cache" / "local_engine").glob("*.npz"))  # descriptors cached
    again = load_engine("local", folder=folder, cache_dir=tmp_path / "cache").search(reference=reference, limit=3)
    assert again == found
    downloads = [engine.read(url) for url in (found[0].url, (tmp_path / "outside.png").as_uri())]
    assert downloads[0].ok and downloads[0].image.shape == web.images["chelsea"].shape
    assert "not a file of" in downloads[1].error
