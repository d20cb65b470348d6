"""AppTest of the Curate page (decisions, bulk, undo, filters, pages) and of the crawl panel."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dsaii_core import imageio
from dsaii_core.workspace import Workspace
from tests.collect.candidates import add_candidates
from tests.fixtures.fake_web import FakeWeb
from tests.fixtures.jobs_here import jobs_in_process  # noqa: F401 (a fixture)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def ws(tmp_path) -> Workspace:
    ws = Workspace.create(tmp_path / "ws")
    add_candidates(ws, "parts", 50)
    return ws


def page(ws: Workspace, path: str = "app_pages/curate.py") -> AppTest:
    at = AppTest.from_file(str(REPO / path), default_timeout=60)
    at.session_state["workspace_path"] = str(ws.root)
    return at.run()


def statuses(ws: Workspace) -> dict[int, str]:
    return {i.id: i.status for i in ws.catalog.items()}


def caption(at: AppTest) -> str:
    return next(c.value for c in at.caption if "images ·" in c.value)


def test_grid_shows_one_page_with_badges_and_groups(ws):
    at = page(ws)
    assert not at.exception
    assert caption(at) == "50 images · 9 near-duplicate groups (9 extra copies) · page 1 of 2"
    tiles = [m.value for m in at.markdown if "-badge[" in m.value]
    assert len(tiles) == 40 and any(":material/content_copy: 2 alike" in t for t in tiles)
    assert any(t.startswith(":orange-badge[CC BY-NC 2.0]") for t in tiles)
    assert any(t.startswith(":gray-badge[no license]") for t in tiles)


def test_keep_and_drop_one_image_then_undo(ws):
    at = page(ws)
    at.button(key="keep_3").click().run()
    assert statuses(ws)[3] == "kept" and "1 image kept" in [t.value for t in at.toast]
    at.button(key="drop_5").click().run()
    assert statuses(ws)[5] == "dropped"
    assert caption(at).startswith("48 images")  # kept and dropped leave the candidate view
    at.button(key="curate_undo").click().run()
    assert statuses(ws)[5] == "candidate" and statuses(ws)[3] == "kept"
    assert "Undid your last change: dropped 1 image" in [t.value for t in at.toast]  # says what it reverted
    at.button(key="curate_undo").click().run()
    assert set(statuses(ws).values()) == {"candidate"}


def test_bulk_keep_of_a_page_undoes_as_one(ws):
    at = page(ws)
    at.button(key="curate_keep_page").click().run()
    assert list(statuses(ws).values()).count("kept") == 40
    assert caption(at).startswith("10 images")
    at.button(key="curate_undo").click().run()
    assert set(statuses(ws).values()) == {"candidate"} and caption(at).startswith("50 images")


def test_filters_and_pages(ws):
    at = page(ws)
    at.button(key="curate_next").click().run()
    assert caption(at).endswith("page 2 of 2")
    at.multiselect(key="curate_license").select("CC0 1.0").run()
    assert caption(at).startswith("13 images")
    at.multiselect(key="curate_engine").select("wikimedia").run()
    assert caption(at).startswith("13 images")  # every CC0 sample came from wikimedia
    at.multiselect(key="curate_engine").unselect("wikimedia").select("openverse").run()
    assert "No images match these filters" in at.info[0].value


def test_drop_near_duplicates_and_keep_most_similar(ws):
    at = page(ws)
    at.button(key="curate_drop_dups").click().run()
    assert list(statuses(ws).values()).count("dropped") == 9
    at.number_input(key="curate_top_n").set_value(10)
    at.button(key="curate_keep_top").click().run()
    assert list(statuses(ws).values()).count("kept") == 10
    assert list(statuses(ws).values()).count("dropped") == 40


@pytest.fixture(scope="module")
def web():
    server = FakeWeb().start()
    yield server
    server.stop()


def test_crawl_panel_with_an_uploaded_reference_searches_the_class_name(tmp_path, web, jobs_in_process):
    from app_pages._crawl_panel import crawl_panel  # noqa: F401 (the panel must import cleanly)

    ws = Workspace.create(tmp_path / "crawl-ws")
    web.use_results(["/img/coffee.png", "/img/rocket.png", "/html-as.png", "/redirect/private"])

    def script():
        from app_pages._crawl_panel import crawl_panel
        crawl_panel()

    at = AppTest.from_function(script, default_timeout=60)
    at.session_state["workspace_path"] = str(ws.root)
    at.run()
    at.text_input(key="crawl_class").set_value("cups")
    at.file_uploader(key="crawl_reference").upload("ref.png", imageio.encode_png(web.images["coffee"]), "image/png")
    at.checkbox(key="crawl_allow_private").check()
    at.text_input(key="crawl_base_url").set_value(web.url("")).run()
    at.button(key="crawl_start").click().run()
    assert not at.exception and len(jobs_in_process) == 1
    assert any("2 added as candidates" in c.value and "2 rejected" in c.value for c in at.caption)
    cls = ws.get_class("cups")
    assert len(ws.catalog.items(cls.id)) == 2
    assert ws.catalog.provenance(1).query == "cups"  # no keywords: the class name
