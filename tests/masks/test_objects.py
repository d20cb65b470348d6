"""Object masks in a workspace: generation (resumable, consensus), review order, fixes, undo, candidate export."""

from __future__ import annotations

import numpy as np
import pytest

from dsaii_core import imageio
from dsaii_core.demo import DEMO_DIR
from dsaii_core.errors import DsaiiError
from dsaii_core.masks import objects, select
from dsaii_core.masks.object_job import generate_for_class
from dsaii_core.masks.objects import ObjectMaskParams
from dsaii_core.masks.sam import AutoParams, SamBackend, SamConfig
from dsaii_core.masks.select import Prompt
from dsaii_core.workspace import Workspace
from tests.fixtures.object_reference import HAZELNUTS, hazelnut_reference
from tests.fixtures.tiny_sam import tiny_sam_checkpoint


def demo_class(ws: Workspace, name: str, count: int, size: int) -> list:
    """Add `count` demo images of a class, shrunk to `size` px, as kept normals; returns the items."""
    cls = ws.add_class(name)
    paths = sorted((DEMO_DIR / name / "train" / "good").glob("*"))[:count]
    return [ws.add_image(cls, imageio.thumbnail(imageio.read_image(p), size)).item for p in paths]


@pytest.fixture
def tiny_sam_config(tmp_path) -> SamConfig:
    return SamConfig(tiny_sam_checkpoint(tmp_path / "sam.pth"), "tiny", "cpu")


@pytest.fixture
def tiny_sam(tiny_sam_config, tmp_path) -> SamBackend:
    return SamBackend.load(tiny_sam_config, tmp_path / "emb")


def test_generation_masks_every_kept_image_resumes_and_redo_is_undoable(tiny_ws):
    cls = tiny_ws.get_class("hazelnut")
    steps = []
    report = generate_for_class(tiny_ws, cls, progress=steps.append)
    items = objects.object_items(tiny_ws, cls)
    assert report.written == len(items) == 3 and report.method == "grabcut" and steps[-1] == 1.0
    first = [tiny_ws.object_mask(i) for i in items]
    assert all(m.source.startswith("grabcut:") and 0 <= m.confidence <= 1 for m in first)
    for item, mask in zip(items, first):
        reference = hazelnut_reference(tiny_ws.read_image(item))
        assert select.iou(tiny_ws.read_mask(mask) > 0, reference) >= 0.8
    again = generate_for_class(tiny_ws, cls)
    assert again.written == 0 and again.skipped == 3
    redo = generate_for_class(tiny_ws, cls, ObjectMaskParams(redo=True), user="ana")
    assert redo.written == 3
    assert tiny_ws.catalog.undo(cls.id, "ben") is None  # the run is Ana's
    assert len(tiny_ws.catalog.undo(cls.id, "ana").decisions) == 3  # her whole run at once
    assert [tiny_ws.object_mask(i).id for i in items] == [m.id for m in first]


def test_candidates_are_cached_on_disk_without_pickles(tiny_ws):
    item = objects.object_items(tiny_ws, tiny_ws.get_class("hazelnut"))[0]
    first = objects.item_candidates(tiny_ws, item, None)
    files = list((tiny_ws.cache_dir / "object_candidates").glob("*.npz"))
    assert len(files) == 1
    with np.load(files[0], allow_pickle=False) as data:
        assert data["bits"].dtype == np.uint8
    second = objects.item_candidates(tiny_ws, item, None)
    assert [c.source for c in first] == [c.source for c in second] and first[-1].source == "frame"
    assert all(np.array_equal(a.mask, b.mask) for a, b in zip(first, second))


def test_frame_filling_class_gets_whole_frame_masks_and_object_classes_do_not(tmp_path):
    ws = Workspace.create(tmp_path / "ws")
    screws = demo_class(ws, "ball_screw", 5, 400)
    transistors = demo_class(ws, "transistor", 3, 128)
    report = generate_for_class(ws, ws.get_class("ball_screw"))
    assert report.fills_frame and report.written == 5
    assert all(ws.read_mask(ws.object_mask(i)).min() == 255 for i in screws)
    report = generate_for_class(ws, ws.get_class("transistor"))
    assert not report.fills_frame
    for item in transistors:
        mask = ws.read_mask(ws.object_mask(item)) > 0
        # Hand-checked on the demo: the transistor's black case sits around (x, y) = (64, 45) of 128.
        assert mask[40:50, 58:70].mean() > 0.8
        assert 0.05 < mask.mean() < 0.6 and not mask[[0, 0, -1, -1], [0, -1, 0, -1]].any()


def test_texture_class_needs_no_object_mask(tiny_ws):
    cls = objects.mark_texture(tiny_ws, tiny_ws.get_class("hazelnut"))
    report = generate_for_class(tiny_ws, cls)
    assert report.written == 0 and "texture" in report.summary()
    tiny_ws.catalog.undo(cls.id)
    assert tiny_ws.get_class("hazelnut").kind == "object"


def test_sam_method_needs_a_checkpoint(tiny_ws):
    with pytest.raises(DsaiiError, match="SAM checkpoint"):
        generate_for_class(tiny_ws, tiny_ws.get_class("hazelnut"), ObjectMaskParams(method="sam"))
    with pytest.raises(DsaiiError, match="method must be"):
        ObjectMaskParams(method="magic")


def test_generation_with_sam_uses_its_candidates(tiny_ws, tiny_sam_config):
    params = ObjectMaskParams(sam=AutoParams(points_per_side=2, pred_iou_thresh=0, stability_score_thresh=0))
    report = generate_for_class(tiny_ws, tiny_ws.get_class("hazelnut"), params, sam=tiny_sam_config)
    assert report.method == "sam" and report.written == 3
    sources = {tiny_ws.object_mask(i).source for i in objects.object_items(tiny_ws, tiny_ws.get_class("hazelnut"))}
    assert all(s.startswith("sam:") for s in sources)


def test_review_order_puts_missing_and_doubtful_first_and_accepted_last(tiny_ws):
    cls = tiny_ws.get_class("hazelnut")
    a, b, c = objects.object_items(tiny_ws, cls)
    full = np.full((a.height, a.width), 255, np.uint8)
    tiny_ws.add_mask(a, full, kind="object", source="x", confidence=0.9)
    tiny_ws.add_mask(b, full, kind="object", source="x", confidence=0.2)
    assert [r.item.id for r in objects.review_rows(tiny_ws, cls)] == [c.id, b.id, a.id]
    objects.accept(tiny_ws, b)
    rows = objects.review_rows(tiny_ws, cls)
    assert rows[-1].item.id == b.id and rows[-1].accepted
    assert objects.accept(tiny_ws, b).id == rows[-1].mask.id  # accepting twice changes nothing
    with pytest.raises(DsaiiError, match="no object mask"):
        objects.accept(tiny_ws, c)


def test_pick_candidate_and_its_inverse_then_undo(tiny_ws):
    item = objects.object_items(tiny_ws, tiny_ws.get_class("hazelnut"))[0]
    candidates = objects.item_candidates(tiny_ws, item, None)
    picked = objects.pick_candidate(tiny_ws, item, candidates, 0)
    assert np.array_equal(tiny_ws.read_mask(picked) > 0, candidates[0].mask) and picked.params["accepted"]
    inverse = objects.pick_candidate(tiny_ws, item, candidates, 0, inverted=True)
    assert np.array_equal(tiny_ws.read_mask(inverse) > 0, ~candidates[0].mask)
    tiny_ws.catalog.undo()
    assert tiny_ws.object_mask(item).id == picked.id
    with pytest.raises(DsaiiError):
        objects.pick_candidate(tiny_ws, item, candidates, 99)


def test_prompt_without_weights_uses_grabcut_and_refines_the_current_mask(tmp_path):
    ws = Workspace.create(tmp_path / "ws")
    cls = ws.add_class("hazelnut")
    item = ws.add_image(cls, imageio.read_image(HAZELNUTS[4])).item
    image = ws.read_image(item)
    reference = hazelnut_reference(image)
    rows, cols = np.nonzero(reference)
    box = (cols.min() - 6, rows.min() - 6, cols.max() + 6, rows.max() + 6)
    boxed = objects.prompt_mask(ws, item, Prompt(box=box), None, refine=False)
    assert boxed[0].source == "grabcut-prompt" and select.iou(boxed[0].mask, reference) >= 0.85
    with_corner = reference.copy()
    with_corner[:30, :30] = True
    objects.save_fix(ws, item, with_corner, "user-paint")
    refined = objects.prompt_mask(ws, item, Prompt(negative=[(15.0, 15.0)]), None, refine=True)
    assert not refined[0].mask[:30, :30].any() and select.iou(refined[0].mask, reference) >= 0.85
    with pytest.raises(DsaiiError):
        objects.prompt_mask(ws, item, Prompt(), None, refine=False)


def test_prompt_with_sam_refines_through_mask_input(tiny_ws, tiny_sam):
    item = objects.object_items(tiny_ws, tiny_ws.get_class("hazelnut"))[0]
    objects.save_fix(tiny_ws, item, np.full((item.height, item.width), 255, np.uint8), "user-paint")
    result = objects.prompt_mask(tiny_ws, item, Prompt(positive=[(32.0, 32.0)]), tiny_sam, refine=True)
    assert result[0].source == "sam-refine" and result[0].mask.shape == (item.height, item.width)


def test_candidates_export_in_the_reference_layout(tiny_ws, tmp_path, tiny_sam):
    cls = tiny_ws.get_class("hazelnut")
    out = tmp_path / "candidates"
    params = ObjectMaskParams(sam=AutoParams(points_per_side=2, pred_iou_thresh=0, stability_score_thresh=0))
    assert objects.export_candidates(tiny_ws, cls, out, tiny_sam, params) == 3
    folder = out / cls.dirname / "000"
    metadata = folder / "metadata.csv"
    assert metadata.read_text().splitlines()[0] == objects.METADATA_HEADER
    rows = objects.read_metadata(metadata)
    assert len(rows) == len(list(folder.glob("*.png"))) >= 1
    first = imageio.read_mask(folder / "0.png")
    assert int(rows[0]["area"]) == int((first > 0).sum()) and float(rows[0]["predicted_iou"]) >= 0
    grabcut_out = tmp_path / "grabcut"
    objects.export_candidates(tiny_ws, cls, grabcut_out)
    assert {r["id"] for r in objects.read_metadata(grabcut_out / cls.dirname / "001" / "metadata.csv")} == {"0", "1", "2"}
