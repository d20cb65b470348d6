"""AppTest of the Collect page: import (masks beside images reported, the License recorded) and the crawl job."""

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dsaii_core import jobs
from dsaii_core.workspace import Workspace
from tests.fixtures.fake_web import FakeWeb
from tests.fixtures.import_trees import magnetic_tile_copy
from tests.fixtures.jobs_here import jobs_in_process  # noqa: F401 (a fixture)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def ws(tmp_path) -> Workspace:
    return Workspace.create(tmp_path / "ws")


def page(ws: Workspace) -> AppTest:
    at = AppTest.from_file(str(REPO / "app_pages/collect.py"), default_timeout=60)
    at.session_state["workspace_path"] = str(ws.root)
    return at.run()


def test_folder_import_pairs_masks_beside_images_and_records_the_license(ws, tmp_path):
    root = magnetic_tile_copy(tmp_path / "magnetic_tile", per_class=2)
    at = page(ws)
    assert not at.exception
    at.text_input(key="import_license").input("CC BY 4.0")
    at.text_input(key="folder_path").input(str(root)).run()
    at.button(key="import_folder").click().run()
    assert not at.exception
    assert at.success[0].value.startswith("4 images added (2 real anomalies) to 2 classes")
    assert any("4 masks beside their images were paired with them, not imported as images" in i.value
               for i in at.info)
    assert any("license CC BY 4.0 recorded for 4 images" in i.value for i in at.info)
    masks = next(e for e in at.expander if e.label.startswith("Masks beside images (4)"))
    assert "empty, normal" in masks.markdown[0].value and "defect marked, a real anomaly" in masks.markdown[0].value
    assert len(ws.catalog.items(role="normal")) == 2 and len(ws.catalog.items(role="anomaly")) == 2
    names = {ws.catalog.provenance(i.id).original_name.rsplit("/", 1)[0] for i in ws.catalog.items()}
    assert names == {"magnetic_tile/MT_Free/Imgs", "magnetic_tile/MT_Crack/Imgs"}
    assert {ws.catalog.provenance(i.id).license for i in ws.catalog.items()} == {"CC BY 4.0"}


def test_a_lone_mask_is_listed_among_rejected_files(ws, tmp_path):
    root = magnetic_tile_copy(tmp_path / "tiles", per_class=1)
    next((root / "MT_Free/Imgs").glob("*.jpg")).unlink()  # its all-black mask stays alone
    at = page(ws)
    at.text_input(key="folder_path").input(str(root)).run()
    at.button(key="import_folder").click().run()
    assert at.warning[0].value.endswith("1 files rejected")
    rejected = next(e for e in at.expander if e.label == "1 files rejected")
    assert "an empty mask without its photo?" in rejected.markdown[0].value
    assert len(ws.catalog.items()) == 1


def test_crawl_starts_a_job_and_lists_the_urls_it_did_not_add(ws, tmp_path, jobs_in_process):
    web = FakeWeb().start()
    try:
        web.use_results(["/img/coffee.png", "/img/rocket.png", "/html-as.png", "/mirror/coffee-copy.png"])
        at = page(ws)
        at.text_input(key="crawl_class").input("cups")
        at.text_input(key="crawl_query").input("cup")
        at.checkbox(key="crawl_allow_private").check()
        at.text_input(key="crawl_base_url").input(web.url("")).run()
        at.button(key="crawl_start").click().run()
        assert not at.exception
        [job] = jobs.list_jobs(ws.catalog, "crawl")
        assert jobs_in_process == [job.id] and job.state == "done" and job.total == 4
        assert any("2 added as candidates" in c.value and "1 duplicates" in c.value for c in at.caption)
        problems = next(e for e in at.expander if e.label == "2 URLs not added")
        assert sorted(problems.dataframe[0].value["state"]) == ["duplicate", "rejected"]
        items = ws.catalog.items(ws.get_class("cups").id)
        assert [i.status for i in items] == ["candidate", "candidate"]
        assert jobs.item_results(ws.catalog, job.id)[0][1] == json.dumps(
            {"state": "added", "reason": None, "item_id": items[0].id})
    finally:
        web.stop()
