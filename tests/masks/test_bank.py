"""The mask bank: layouts found, hostile files refused with reasons, crops with their frames, dedupe."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from dsaii_core import imageio
from dsaii_core.demo import DEMO_DIR
from dsaii_core.errors import DsaiiError
from dsaii_core.masks.bank import (decode_bank_mask, find_mask_files, import_bank, load_bank, read_bank_folder)
from dsaii_core.workspace import Workspace


def defect(shape=(60, 80), box=(10, 20, 30, 50)) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    y0, y1, x0, x1 = box
    mask[y0:y1, x0:x1] = 255
    return mask


@pytest.fixture
def mvtec_root(tmp_path) -> Path:
    """Two demo categories' ground_truth trees (real MVTec AD masks) in the MVTec layout."""
    root = tmp_path / "mvtec"
    for category in ("hazelnut", "transistor"):
        shutil.copytree(DEMO_DIR / category / "ground_truth", root / category / "ground_truth")
    return root


@pytest.fixture
def ws(tmp_path) -> Workspace:
    return Workspace.create(tmp_path / "ws")


def test_mvtec_tree_is_found_with_category_and_defect(mvtec_root):
    files = find_mask_files(mvtec_root)
    assert len(files) == 16
    assert {f.source for f in files} >= {"hazelnut/crack", "transistor/misplaced"}
    assert all(f.defect == f.path.parent.name for f in files)
    assert len(find_mask_files(mvtec_root / "hazelnut")) == 8  # one category on its own


def test_dsaii_layout_and_plain_folders_are_found(tmp_path):
    for cls in ("bolt", "nut"):
        imageio.write_png(tmp_path / "dsaii" / cls / "mask" / "000.png", defect())
        imageio.write_png(tmp_path / "dsaii" / cls / "normal" / "000.png", np.zeros((60, 80, 3), np.uint8))
    found = find_mask_files(tmp_path / "dsaii")
    assert sorted((f.source, f.path.parent.name) for f in found) == [("bolt", "mask"), ("nut", "mask")]
    imageio.write_png(tmp_path / "plain" / "a.png", defect())
    imageio.write_png(tmp_path / "plain" / "scratches" / "b.png", defect())
    found = {f.path.name: f for f in find_mask_files(tmp_path / "plain")}
    assert found["a.png"].source == "plain" and found["b.png"].source == "scratches"


def test_import_keeps_crop_frame_and_license_and_skips_duplicates(ws, mvtec_root):
    report = import_bank(ws, [mvtec_root], license="CC BY-NC-SA 4.0")
    assert report.added == 16 and not report.rejected
    again = import_bank(ws, [mvtec_root])
    assert again.added == 0 and again.duplicates == 16
    rows = ws.catalog.bank_masks()
    assert all(r.license == "CC BY-NC-SA 4.0" and r.frame[:2] == (256, 256) for r in rows)
    bank = {b.id: b for b in load_bank(ws)}
    original = decode_bank_mask(mvtec_root / "hazelnut" / "ground_truth" / "hole" / "000_mask.png")
    row = next(r for r in rows if r.source == "hazelnut/hole")
    entry = bank[row.id]
    left, top = entry.offset
    rebuilt = np.zeros((256, 256), np.uint8)
    rebuilt[top:top + entry.crop.shape[0], left:left + entry.crop.shape[1]] = entry.crop * 255
    assert np.array_equal(rebuilt, original) and entry.frame == (256, 256)
    assert entry.crop[0].any() and entry.crop[-1].any() and entry.crop[:, 0].any() and entry.crop[:, -1].any()
    assert len(load_bank(ws, sources=("hazelnut/hole",))) == 2


def test_hostile_entries_are_refused_with_reasons_or_read_correctly(ws, tmp_path):
    folder = tmp_path / "hostile"
    folder.mkdir()
    imageio.write_png(folder / "empty.png", np.zeros((32, 32), np.uint8))
    imageio.write_png(folder / "all_ones.png", np.full((32, 32), 255, np.uint8))
    imageio.write_png(folder / "one_pixel.png", np.full((1, 1), 255, np.uint8))
    (folder / "not_an_image.png").write_bytes(b"this is text")
    (folder / "truncated.png").write_bytes(imageio.encode_png(defect())[:60])
    soft = cv2.GaussianBlur(defect(), (0, 0), 3)
    imageio.write_png(folder / "soft.png", soft)
    Image.fromarray(np.where(defect() > 0, 1, 0).astype(np.uint8)).save(folder / "labels01.png")
    Image.fromarray(np.dstack([defect()] * 3)).save(folder / "rgb.png")
    Image.fromarray((defect().astype(np.uint16) * 257)).save(folder / "sixteen_bit.png")
    Image.fromarray(defect() > 0).save(folder / "one_bit.png")
    Image.fromarray(defect(box=(5, 15, 5, 15))).convert("P").save(folder / "palette.png")
    strokes = np.zeros((60, 80, 4), np.uint8)
    strokes[40:50, 10:70] = (255, 0, 0, 255)
    Image.fromarray(strokes, "RGBA").save(folder / "rgba_strokes.png")

    report = import_bank(ws, [folder])
    reasons = dict(report.rejected)
    assert set(reasons) == {"empty.png", "all_ones.png", "one_pixel.png", "not_an_image.png", "truncated.png"}
    assert "empty mask" in reasons["empty.png"]
    assert "covers 100 %" in reasons["all_ones.png"]
    assert "1 defect pixel" in reasons["one_pixel.png"]
    assert "not an image" in reasons["not_an_image.png"]
    assert "truncated" in reasons["truncated.png"] or "not an image" in reasons["truncated.png"]
    # One defect in four encodings (0/1 labels, RGB, 16-bit, 1-bit) is one bank mask; the soft one, the
    # palette square and the strokes on a transparent sheet are three more.
    assert report.added == 4 and report.duplicates == 3
    crops = sorted(b.crop.shape for b in load_bank(ws))
    assert crops == sorted([(10, 20), (10, 10), (10, 60), soft_crop_shape(soft)])


def soft_crop_shape(soft: np.ndarray) -> tuple[int, int]:
    rows, cols = np.nonzero(soft >= 128)
    return (rows.max() - rows.min() + 1, cols.max() - cols.min() + 1)


def test_decoded_masks_are_binary(tmp_path):
    path = tmp_path / "soft.png"
    imageio.write_png(path, cv2.GaussianBlur(defect(), (0, 0), 2))
    mask = decode_bank_mask(path)
    assert set(np.unique(mask)) == {0, 255}


def test_bank_from_a_folder_without_workspace_dedupes_and_reports(tmp_path, mvtec_root):
    imageio.write_png(mvtec_root / "hazelnut" / "ground_truth" / "crack" / "blank.png", np.zeros((8, 8), np.uint8))
    shutil.copytree(mvtec_root / "hazelnut", mvtec_root / "hazelnut_copy")
    bank, rejected = read_bank_folder(mvtec_root)
    assert len(bank) == 16 and [name for name, _ in rejected] == ["blank.png", "blank.png"]
    assert all(b.crop.dtype == np.uint8 and set(np.unique(b.crop)) <= {0, 1} for b in bank)


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(DsaiiError, match="no such file"):
        find_mask_files(tmp_path / "nope")
