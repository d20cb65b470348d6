"""AppTest of the Review page: tiles, accept / reject / regenerate, bulk accept, undo, filters, zoom."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dsaii_core.inpaint.generate import start_inpaint_job
from dsaii_core.jobs import run_job
from dsaii_core.workspace import Workspace
from tests.fixtures.masked_ws import build_masked_ws

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def ws(tmp_path) -> Workspace:
    ws = build_masked_ws(tmp_path / "ws", normals=4, size=96)
    run_job(ws, start_inpaint_job(ws, ws.classes(), "classical", seed=2).id)
    return ws


def page(ws: Workspace) -> AppTest:
    at = AppTest.from_file(str(REPO / "app_pages/review.py"), default_timeout=60)
    at.session_state["workspace_path"] = str(ws.root)
    at.session_state["class_name"] = "hazelnut"
    at.session_state["reviewer"] = "rita"
    return at.run()


def synthetic(ws: Workspace, status: str) -> list[int]:
    return [i.id for i in ws.catalog.items(role="anomaly", statuses=(status,)) if i.origin.startswith("inpaint:")]


def test_the_grid_shows_every_pending_anomaly_with_its_qc(ws):
    at = page(ws)
    assert not at.exception
    ids = synthetic(ws, "pending")
    assert len(at.image) == len(ids) == 4
    captions = " ".join(c.value for c in at.caption)
    assert all(f"#{i}" in captions for i in ids) and "SSIM in" in captions
    assert any("0 accepted of 4" in str(p.proto) for p in at.get("progress"))


def test_accept_and_reject_are_saved_at_once_with_the_reviewer(ws):
    at = page(ws)
    first, second = synthetic(ws, "pending")[:2]
    at.button(key=f"accept_{first}").click().run()
    at.button(key=f"reject_{second}").click().run()
    assert ws.catalog.item(first).status == "accepted" and ws.catalog.item(second).status == "rejected"
    assert {d.user for d in ws.catalog.history(limit=2)} == {"rita"}
    assert len(at.image) == 2  # the pending filter hides decided tiles
    at.button(key="undo").click().run()
    assert ws.catalog.item(second).status == "pending"


def test_the_name_in_the_sidebar_is_saved_with_decisions_and_scopes_undo(ws):
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    at.session_state["workspace_path"] = str(ws.root)
    at.run()
    at.sidebar.text_input(key="reviewer_field").set_value("bob").run()
    at.switch_page("app_pages/review.py").run()  # the field's widget state goes; the name stays
    first, second = synthetic(ws, "pending")[:2]
    ws.catalog.set_status([second], "rejected", user="carol")  # a colleague, after Bob opened the page
    at.button(key=f"accept_{first}").click().run()
    assert ws.catalog.history(limit=1)[0].user == "bob"
    ws.catalog.set_status([second], "accepted", user="carol")
    at.button(key="undo").click().run()  # Bob's undo reverts Bob's decision, not Carol's later one
    assert ws.catalog.item(first).status == "pending" and ws.catalog.item(second).status == "accepted"


def test_regenerate_replaces_a_tile_with_a_new_result(ws):
    at = page(ws)
    old = synthetic(ws, "pending")[0]
    at.button(key=f"regen_{old}").click().run()
    assert not at.exception
    assert ws.catalog.item(old).status == "rejected"
    pending = synthetic(ws, "pending")
    assert len(pending) == 4 and old not in pending
    assert f"#{max(pending)}" in " ".join(c.value for c in at.caption)


def test_bulk_accept_and_filters(ws):
    at = page(ws)
    passing = [i for i in synthetic(ws, "pending") if ws.catalog.item(i).info["qc"]["passed"]]
    at.selectbox(key="review_qc").set_value("passed QC").run()
    assert len(at.image) == len(passing)
    at.selectbox(key="review_backend").set_value("webui").run()
    assert len(at.image) == 0
    at.button(key="accept_passing").click().run()
    assert sorted(synthetic(ws, "accepted")) == sorted(passing)
    at.selectbox(key="review_backend").set_value("any").run()
    at.selectbox(key="review_status").set_value("accepted").run()
    assert len(at.image) == len(passing)


def test_zoom_shows_one_result_large(ws):
    at = page(ws)
    item = synthetic(ws, "pending")[0]
    at.button(key=f"zoom_{item}").click().run()
    assert len(at.image) == 5  # the large view above the four tiles
    assert f"#{item} · normal | anomaly | mask" in str(at.image[0].proto)
    at.button(key="close_zoom").click().run()
    assert at.session_state["zoom"] is None


def test_undo_after_regenerate_brings_the_old_result_back_and_says_so(ws):
    at = page(ws)
    old = synthetic(ws, "pending")[0]
    at.button(key=f"regen_{old}").click().run()
    new = max(synthetic(ws, "pending"))
    assert ws.catalog.item(old).status == "rejected" and ws.catalog.item(new).mask_id == ws.catalog.item(old).mask_id
    at.button(key="undo").click().run()
    assert (ws.catalog.item(old).status, ws.catalog.item(new).status) == ("pending", "deleted")
    assert any(t.value.startswith("Undid your last change: regenerated anomaly") for t in at.toast)
