"""Anomaly masks for a class: generation, top-up, determinism, object masks, undo, regenerate,
hand-drawn masks, and the reference script's folder interface."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from dsaii_core import imageio
from dsaii_core.demo import DEMO_DIR
from dsaii_core.errors import DsaiiError
from dsaii_core.masks.anomaly import (anomaly_masks, class_params, delete_anomaly_masks, gen_masks_folder,
                                      regenerate_mask, save_class_params, save_drawn_mask)
from dsaii_core.masks.anomaly_job import generate_for_class
from dsaii_core.masks.augment import AugmentParams
from dsaii_core.masks.bank import import_bank
from dsaii_core.workspace import Workspace


def part_mask(image: np.ndarray) -> np.ndarray:
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)[1]


def build(root: Path) -> Workspace:
    """Hazelnut (object, 3 images, object masks on the first two) and magnetic tile (texture, 2 images),
    real demo images at 96 px, and a bank of the demo's MVTec AD masks."""
    ws = Workspace.create(root)
    nut = ws.add_class("hazelnut")
    for index, path in enumerate(sorted((DEMO_DIR / "hazelnut" / "train" / "good").glob("*.png"))[:3]):
        item = ws.add_image(nut, imageio.thumbnail(imageio.read_image(path), 96)).item
        if index < 2:
            ws.add_mask(item, part_mask(ws.read_image(item)), kind="object", source="test")
    tile = ws.add_class("magnetic_tile", kind="texture")
    for path in sorted((DEMO_DIR / "magnetic_tile" / "train" / "good").glob("*.jpg"))[:2]:
        ws.add_image(tile, imageio.thumbnail(imageio.read_image(path), 96))
    import_bank(ws, [DEMO_DIR / "hazelnut", DEMO_DIR / "transistor"], license="CC BY-NC-SA 4.0")
    return ws


@pytest.fixture
def ws(tmp_path) -> Workspace:
    return build(tmp_path / "ws")


def test_every_image_gets_its_masks_inside_the_part_and_in_range(ws):
    cls = ws.get_class("hazelnut")
    report = generate_for_class(ws, cls, class_params(cls).replace(per_image=2))
    assert report.written == 6 and not report.misses
    assert len(report.notes) == 1 and "1 images have no object mask" in report.notes[0]
    rows = anomaly_masks(ws, cls)
    assert len(rows) == 6
    for item, mask in rows:
        pixels = ws.read_mask(mask)
        assert 0.01 <= mask.area <= 0.05 and mask.source == "bank" and mask.params["fitted"]
        assert mask.params["bank_id"] in {b.id for b in ws.catalog.bank_masks()}
        object_row = ws.object_mask(item)
        if object_row is not None:
            assert not np.any(pixels[ws.read_mask(object_row) == 0])


def test_texture_class_uses_the_texture_rule(ws):
    cls = ws.get_class("magnetic_tile")
    report = generate_for_class(ws, cls, class_params(cls))
    assert report.written == 2 and not report.notes
    assert all(0.05 <= m.area <= 0.10 for _, m in anomaly_masks(ws, cls))


def test_same_seed_same_bytes_in_another_workspace(tmp_path):
    files = []
    for name in ("a", "b"):
        ws = build(tmp_path / name)
        cls = ws.get_class("hazelnut")
        generate_for_class(ws, cls, class_params(cls).replace(per_image=2, seed=11))
        files.append([ws.path(m.file).read_bytes() for _, m in anomaly_masks(ws, cls)])
    assert files[0] == files[1]
    ws = build(tmp_path / "c")
    cls = ws.get_class("hazelnut")
    generate_for_class(ws, cls, class_params(cls).replace(per_image=2, seed=12))
    assert [ws.path(m.file).read_bytes() for _, m in anomaly_masks(ws, cls)] != files[0]


def test_rerun_tops_up_and_a_run_is_one_undo_step(ws):
    cls = ws.get_class("hazelnut")
    progress = []
    generate_for_class(ws, cls, AugmentParams(per_image=1), progress=progress.append)
    assert progress[0] == 0.0 and progress[-1] == 1.0
    first = {m.id for _, m in anomaly_masks(ws, cls)}
    report = generate_for_class(ws, cls, AugmentParams(per_image=3))
    assert report.written == 6 and len(anomaly_masks(ws, cls)) == 9
    assert generate_for_class(ws, cls, AugmentParams(per_image=3)).complete == 3
    undone = ws.catalog.undo(cls.id, kinds=("anomaly_mask",))
    assert len(undone.decisions) == 6 and {m.id for _, m in anomaly_masks(ws, cls)} == first


def test_undo_reverts_ones_own_run_and_leaves_a_colleague_s_masks(ws):
    cls = ws.get_class("hazelnut")
    item = ws.catalog.items(class_id=cls.id, role="normal")[0]
    drawn = np.zeros((item.height, item.width), np.uint8)
    drawn[10:20, 10:30] = 255
    with ws.catalog.one_action([cls.id], "ana", "anomaly_mask", "anomaly mask run"):  # as a job's run does
        generate_for_class(ws, cls, AugmentParams(), "ana")
        bens = save_drawn_mask(ws, item, drawn, user="ben")  # made while Ana's run was under way
    anas, last = ws.catalog.actions(cls.id, limit=2)[::-1]
    assert (last.user, anas.user) == ("ben", "ana") and anas.label.startswith("anomaly mask run (made 3")
    undone = ws.catalog.undo(cls.id, "ana", kinds=("anomaly_mask",))
    assert len(undone.decisions) == 3 and undone.action.id == anas.id  # Ben's mask stays out of her run
    assert [m.id for _, m in anomaly_masks(ws, cls)] == [bens.id]
    assert [d.user for d in ws.catalog.undo(cls.id, kinds=("anomaly_mask",)).decisions] == ["ben"]


def test_procedural_source(ws):
    cls = ws.get_class("hazelnut")
    report = generate_for_class(ws, cls, AugmentParams(source="procedural", shapes=("crack", "spot")))
    assert report.written == 3
    assert {m.params["shape"] for _, m in anomaly_masks(ws, cls)} <= {"crack", "spot"}


def test_regenerate_replaces_one_mask_and_undo_restores_it(ws):
    cls = ws.get_class("hazelnut")
    generate_for_class(ws, cls, AugmentParams())
    (item, old), *others = anomaly_masks(ws, cls)
    report = regenerate_mask(ws, old, AugmentParams())
    rows = anomaly_masks(ws, cls)
    new = next(m for i, m in rows if i.id == item.id)
    assert report.written == 1 and new.id != old.id and new.replaces == old.id
    assert ws.path(new.file).read_bytes() != ws.path(old.file).read_bytes()
    assert [m.id for _, m in rows if m.id != new.id] == [m.id for _, m in others]
    ws.catalog.undo(cls.id, kinds=("anomaly_mask",))
    assert old.id in {m.id for _, m in anomaly_masks(ws, cls)} and len(anomaly_masks(ws, cls)) == 3


def test_drawn_masks_are_saved_edited_and_deleted_with_undo(ws):
    cls = ws.get_class("hazelnut")
    item = ws.catalog.items(class_id=cls.id, role="normal")[0]
    drawn = np.zeros((item.height, item.width), np.uint8)
    drawn[10:20, 10:30] = 255
    first = save_drawn_mask(ws, item, drawn)
    assert first.source == "drawn" and first.area == pytest.approx(200 / (96 * 96))
    drawn[10:20, 30:40] = 255
    second = save_drawn_mask(ws, item, drawn, replaces=first.id)
    assert [m.id for _, m in anomaly_masks(ws, cls)] == [second.id]
    with pytest.raises(DsaiiError, match="empty"):
        save_drawn_mask(ws, item, np.zeros_like(drawn))
    assert delete_anomaly_masks(ws, cls) == 1 and not anomaly_masks(ws, cls)
    ws.catalog.undo(cls.id, kinds=("anomaly_mask",))
    assert [m.id for _, m in anomaly_masks(ws, cls)] == [second.id]


def test_class_parameters_are_remembered(ws):
    cls = ws.get_class("magnetic_tile")
    assert class_params(cls) == AugmentParams.defaults_for("texture")
    cls = save_class_params(ws, cls, class_params(cls).replace(per_image=4, area=(0.06, 0.08)))
    again = class_params(ws.get_class("magnetic_tile"))
    assert again.per_image == 4 and again.area == (0.06, 0.08) and again.translate == (0.1, 0.1)


def test_empty_bank_says_what_to_do(tmp_path):
    ws = Workspace.create(tmp_path / "empty")
    cls = ws.add_class("bolt")
    with pytest.raises(DsaiiError, match="mask bank is empty"):
        generate_for_class(ws, cls, AugmentParams())


def test_gen_masks_folder_is_a_drop_in_for_the_reference_script(tmp_path):
    objects = tmp_path / "objects"
    for cls in ("hazelnut", "tile"):
        for index, path in enumerate(sorted((DEMO_DIR / "hazelnut" / "train" / "good").glob("*.png"))[:2]):
            background = 255 - part_mask(imageio.thumbnail(imageio.read_image(path), 128))  # SAM: 255 = background
            imageio.write_png(objects / cls / f"{index}.png", background)
    bank = tmp_path / "mvtec"
    shutil.copytree(DEMO_DIR / "transistor" / "ground_truth", bank / "transistor" / "ground_truth")

    report = gen_masks_folder(objects, bank, tmp_path / "out", textures=("tile",), seed=3)
    assert report.written == 4 and report.bank_size == 8 and not report.misses
    for cls, low, high in (("hazelnut", 0.01, 0.05), ("tile", 0.05, 0.10)):
        for index in range(2):
            mask = imageio.read_mask(tmp_path / "out" / cls / f"{index}.png")
            background = imageio.read_mask(objects / cls / f"{index}.png")
            assert low <= (mask > 0).mean() <= high
            if cls == "hazelnut":
                assert not np.any(mask[background > 0])
    gen_masks_folder(objects, bank, tmp_path / "again", textures=("tile",), seed=3)
    assert all((tmp_path / "out" / p).read_bytes() == (tmp_path / "again" / p).read_bytes()
               for p in ("hazelnut/0.png", "tile/1.png"))
    with pytest.raises(DsaiiError, match="no object masks"):
        gen_masks_folder(tmp_path / "nothing", bank, tmp_path / "x")


def test_bank_sources_restrict_the_bank_and_fallback_none_writes_nothing(ws):
    cls = ws.get_class("hazelnut")
    crack_ids = {r.id for r in ws.catalog.bank_masks() if r.source == "hazelnut/crack"}
    generate_for_class(ws, cls, AugmentParams(bank_sources=("hazelnut/crack",)))
    assert {m.params["bank_id"] for _, m in anomaly_masks(ws, cls)} <= crack_ids
    with pytest.raises(DsaiiError, match="no masks from bolt/scratch"):
        generate_for_class(ws, cls, AugmentParams(per_image=2, bank_sources=("bolt/scratch",)))
    impossible = AugmentParams(per_image=2, area=(0.9, 1.0), retries=5, fallback="none")
    report = generate_for_class(ws, cls, impossible)
    assert report.written == 0 and len(report.misses) == 3 and "no mask written" in report.misses[0]
    assert len(anomaly_masks(ws, cls)) == 3
