"""Where the weight-free backend's real defects come from (generate.defect_sources), and that each
result says so: its QC names the source and flags one from another class; Review shows it."""

import cv2
import numpy as np
import pytest

from dsaii_core import imageio
from dsaii_core.demo import DEMO_DIR
from dsaii_core.inpaint import review
from dsaii_core.inpaint.generate import defect_sources, start_inpaint_job
from dsaii_core.jobs import run_job
from dsaii_core.workspace import Workspace
from tests.fixtures.masked_ws import add_ellipse_masks

SIZE = 128


def _read(path, mask=False):
    if mask:
        return imageio.read_mask(DEMO_DIR / path, shape=(SIZE, SIZE), resize=True)
    return cv2.resize(imageio.read_image(DEMO_DIR / path), (SIZE, SIZE), interpolation=cv2.INTER_AREA)


def _import_defects(ws: Workspace, cls, folder: str, defect: str, ext: str, count: int = 2) -> None:
    """Real anomalies with their ground-truth masks, as a folder import files them."""
    for index in range(count):
        item = ws.add_image(cls, _read(f"{folder}/test/{defect}/{index:03d}.{ext}"), role="anomaly",
                            status="accepted", origin="import", defect=defect).item
        truth = _read(f"{folder}/ground_truth/{defect}/{index:03d}_mask.png", mask=True)
        ws.catalog.set_item_fields(item.id, mask_id=ws.add_mask(item, truth, kind="anomaly", source="ground_truth").id)


def _workspace(root, *, tile_defects=False, other_texture_defects=False) -> Workspace:
    """hazelnut (object) with real 'print' defects; magnetic_tile (texture) with two masked normals."""
    ws = Workspace.create(root)
    _import_defects(ws, ws.add_class("hazelnut"), "hazelnut", "print", "png")
    tile = ws.add_class("magnetic_tile", kind="texture")
    for index in range(2):
        ws.add_image(tile, _read(f"magnetic_tile/train/good/{index:03d}.jpg"))
    add_ellipse_masks(ws, tile)
    if tile_defects:
        _import_defects(ws, tile, "magnetic_tile", "crack", "jpg")
    if other_texture_defects:
        _import_defects(ws, ws.add_class("tile_b", kind="texture"), "magnetic_tile", "blowhole", "jpg")
    return ws


def test_a_class_transplants_its_own_real_defects_first(tmp_path):
    ws = _workspace(tmp_path / "ws", tile_defects=True, other_texture_defects=True)
    sources = defect_sources(ws, ws.get_class("magnetic_tile"))
    assert [(s.class_name, s.label) for s in sources] == [("magnetic_tile", "crack")] * 2
    assert all(s.kind == "texture" and s.item_id is not None and s.file for s in sources)


def test_a_texture_class_without_defects_takes_those_of_another_texture_class_not_an_object_class(tmp_path):
    ws = _workspace(tmp_path / "ws", other_texture_defects=True)
    sources = defect_sources(ws, ws.get_class("magnetic_tile"))
    assert {(s.class_name, s.label) for s in sources} == {("tile_b", "blowhole")}


@pytest.mark.parametrize("tile_defects", [False, True])
def test_transplanted_defects_say_where_they_came_from_and_qc_flags_another_class(tmp_path, tile_defects):
    ws = _workspace(tmp_path / "ws", tile_defects=tile_defects)
    tile = ws.get_class("magnetic_tile")
    run_job(ws, start_inpaint_job(ws, [tile], "classical", seed=3).id)
    made = ws.catalog.items(class_id=tile.id, role="anomaly", statuses=("pending",))
    assert len(made) == 2
    for item in made:
        qc, source = item.info["qc"], item.info["qc"]["source"]
        normal, mask = ws.read_image(ws.catalog.item(item.parent_id)), ws.read_mask(ws.catalog.mask(item.mask_id))
        assert np.array_equal(ws.read_image(item)[mask == 0], normal[mask == 0]) and qc["off_mask_changed"] == 0
        assert ws.catalog.item(source["item_id"]).file == source["file"]
        if tile_defects:
            assert (source["class"], source["defect"]) == ("magnetic_tile", "crack")
            assert "defect_from_other_class" not in qc["flags"]
        else:  # only the object class has real defects: used, and said so
            assert (source["class"], source["kind"], source["defect"]) == ("hazelnut", "object", "print")
            assert "defect_from_other_class" in qc["flags"] and not qc["passed"]
    shown = review.tiles(ws, tile.id)
    want = "real defect 'crack' from magnetic_tile" if tile_defects else "real defect 'print' from hazelnut"
    assert all(t.source_text.startswith(want) for t in shown)
    assert all(t.source_text.endswith(", another class") != tile_defects for t in shown)
    if not tile_defects:
        assert review.accept_passing_qc(ws, tile.id) == 0  # a flagged source is never bulk-accepted


def test_painted_defects_name_no_source(tmp_path):
    ws = _workspace(tmp_path / "ws")
    tile = ws.get_class("magnetic_tile")
    run_job(ws, start_inpaint_job(ws, [tile], "classical", options={"method": "procedural"}, seed=1).id)
    shown = review.tiles(ws, tile.id)
    assert shown and all(t.qc.get("source") is None and t.source_text == "" for t in shown)


def test_a_job_decodes_each_real_defect_once_for_all_the_classes_that_share_it(tmp_path, monkeypatch):
    from dsaii_core import jobs
    from dsaii_core.inpaint.generate import start_inpaint_job
    from dsaii_core.workspace import Workspace
    from tests.fixtures.masked_ws import build_masked_ws
    ws = build_masked_ws(tmp_path / "ws", normals=2, size=64)
    nut = ws.get_class("hazelnut")
    twin = ws.add_class("walnut")  # an object class without real defects of its own: it borrows hazelnut's
    for item in ws.catalog.items(class_id=nut.id, role="normal"):
        copy = ws.add_image(twin, ws.read_image(item)).item
        ws.add_mask(copy, ws.read_mask(ws.catalog.masks(item_id=item.id, kind="anomaly")[0]), kind="anomaly",
                    source="drawn")
    reads = []
    real_read = Workspace.read_image
    monkeypatch.setattr(Workspace, "read_image", lambda self, item: reads.append(item.id) or real_read(self, item))
    job = start_inpaint_job(ws, ws.classes(), "classical", options={"method": "transplant"})
    assert jobs.run_job(ws, job.id).state == "done"
    [source] = [i.id for i in ws.catalog.items(class_id=nut.id, role="anomaly") if i.origin == "import"]
    assert reads.count(source) == 1
    assert {ws.catalog.item(i).info["qc"]["source"]["item_id"] for i in
            [a.id for a in ws.catalog.items(role="anomaly") if a.origin.startswith("inpaint:")]} == {source}
