"""AppTest of the Object masks page: generate, badges and order, open (the editor) / pick / accept / undo, texture,
SAM."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from dsaii_core import imageio
from dsaii_core.demo import DEMO_DIR
from dsaii_core.masks import objects
from dsaii_core.masks.object_job import generate_for_class
from dsaii_core.masks.sam import SamConfig
from dsaii_core.workspace import Workspace
from tests.fixtures.tiny_sam import tiny_sam_checkpoint
from tests.fixtures.jobs_here import finish_jobs

REPO = Path(__file__).resolve().parents[2]


def workspace(root: Path) -> Workspace:
    ws = Workspace.create(root)
    cls = ws.add_class("hazelnut")
    for path in sorted((DEMO_DIR / "hazelnut" / "train" / "good").glob("*.png"))[:3]:
        ws.add_image(cls, imageio.thumbnail(imageio.read_image(path), 96))
    return ws


def page(ws: Workspace, monkeypatch=None) -> AppTest:
    at = AppTest.from_file(str(REPO / "app_pages" / "object_masks.py"), default_timeout=90)
    at.session_state["workspace_path"] = str(ws.root)
    at.session_state["class_name"] = "hazelnut"
    return at.run()


def markdown(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def test_without_weights_generate_then_fix_one_image_and_undo(tmp_path, monkeypatch):
    monkeypatch.delenv("DSAII_SAM_CHECKPOINT", raising=False)
    ws = workspace(tmp_path / "ws")
    cls = ws.get_class("hazelnut")
    at = page(ws)
    assert not at.exception and at.title[0].value == "Object masks"
    assert any("No SAM checkpoint configured" in i.value and "would add" in i.value for i in at.info)
    assert markdown(at).count("no mask") == 3

    at.button(key="om_generate").click().run()
    finish_jobs(at, ws, "object_masks")
    assert not at.exception
    items = objects.object_items(ws, cls)
    assert all(ws.object_mask(i) is not None for i in items)
    assert "3 of 3 images have an object mask" in "\n".join(c.value for c in at.caption)
    assert markdown(at).count("likely") + markdown(at).count("doubtful") == 3

    item = items[1]
    generated = ws.object_mask(item)
    at.button(key=f"om_open_{item.id}").click().run()
    assert not at.exception and Path(item.file).name in [s.value for s in at.subheader]
    # The mask editor opens first; AppTest shows the component as an element it cannot draw on
    # (drawing and saving: tests/e2e/test_mask_editor_browser.py, test_object_masks_browser.py).
    assert [e.key for e in at.get("bidi_component")] == [f"om_editor_{item.id}"]
    assert any("GrabCut (no SAM checkpoint) answers" in c.value for c in at.caption)
    at.radio(key="om_tool").set_value("Candidates").run()
    assert not at.get("bidi_component")
    at.button(key=f"om_inv_{item.id}_0").click().run()  # the inverse of candidate 0
    picked = ws.object_mask(item)
    assert picked.id != generated.id and picked.source.startswith("pick:") and picked.params["inverted"]
    colleague = objects.save_fix(ws, items[0], ws.read_mask(ws.object_mask(items[0])), "user-fill", "carol")
    at.button(key="om_undo_open").click().run()  # undoes this user's change, not Carol's later one
    assert ws.object_mask(item).id == generated.id and ws.object_mask(items[0]).id == colleague.id
    assert {d.user for d in ws.catalog.history(cls.id, limit=4)} != {""}  # changes are attributed
    at.button(key="om_accept_open").click().run()
    assert ws.object_mask(item).params["accepted"] and ws.object_mask(item).params["accepted_from"] == generated.id
    at.button(key="om_close").click().run()
    assert Path(item.file).name not in [s.value for s in at.subheader]


def test_one_undo_reverts_a_whole_generate_run_including_replaced_masks(tmp_path, monkeypatch):
    monkeypatch.delenv("DSAII_SAM_CHECKPOINT", raising=False)
    ws = workspace(tmp_path / "ws")
    cls = ws.get_class("hazelnut")
    first = generate_for_class(ws, cls)
    before = {m.id for m in ws.catalog.masks(kind="object")}
    at = page(ws)
    at.session_state["reviewer"] = "dana"
    at.checkbox(key="om_redo").check().run()
    at.button(key="om_generate").click().run()
    finish_jobs(at, ws, "object_masks")
    assert not at.exception and first.written == 3
    assert {m.id for m in ws.catalog.masks(kind="object")}.isdisjoint(before)
    at.button(key="om_undo").click().run()
    assert not at.exception and {m.id for m in ws.catalog.masks(kind="object")} == before
    assert "Undid your last change: object mask run (replaced 3 object masks)" in [t.value for t in at.toast]


def test_accept_from_the_grid_moves_the_image_last(tmp_path):
    ws = workspace(tmp_path / "ws")
    cls = ws.get_class("hazelnut")
    generate_for_class(ws, cls)
    first = objects.review_rows(ws, cls)[0].item
    at = page(ws)
    at.button(key=f"om_accept_{first.id}").click().run()
    assert not at.exception
    rows = objects.review_rows(ws, cls)
    assert rows[-1].item.id == first.id and rows[-1].accepted
    assert "checked" in markdown(at)
    assert at.button(key=f"om_accept_{first.id}").disabled


def test_texture_class_is_marked_and_unmarked(tmp_path):
    ws = workspace(tmp_path / "ws")
    at = page(ws)
    at.button(key="om_texture").click().run()
    assert ws.get_class("hazelnut").kind == "texture"
    assert any("texture class" in i.value for i in at.info)
    at.button(key="om_object").click().run()
    assert ws.get_class("hazelnut").kind == "object" and not at.exception


def test_with_a_sam_checkpoint_the_page_uses_sam(tmp_path):
    ws = workspace(tmp_path / "ws")
    SamConfig(tiny_sam_checkpoint(tmp_path / "sam_tiny.pth"), "tiny").save(ws.catalog)
    at = page(ws)
    assert not at.exception
    assert not any("No SAM checkpoint" in i.value for i in at.info)
    assert any("SAM: sam_tiny.pth" in c.value for c in at.caption)
    at.radio(key="om_method").set_value("sam")
    at.number_input(key="om_pps").set_value(2)
    at.slider(key="om_iou").set_value(0.0)
    at.slider(key="om_stab").set_value(0.0)
    at.button(key="om_generate").click().run()
    finish_jobs(at, ws, "object_masks")
    assert not at.exception
    sources = {m.source.split(":")[0] for m in ws.catalog.masks(kind="object")}
    assert sources == {"sam"}


def test_a_missing_checkpoint_is_reported_not_raised(tmp_path):
    ws = workspace(tmp_path / "ws")
    SamConfig(tmp_path / "gone.pth", "vit_b").save(ws.catalog)
    at = page(ws)
    assert not at.exception
    assert any("SAM checkpoint not found" in e.value for e in at.error)
