"""`anomaly-masks`, `gen-masks` and `bank`, run as users run them (`python -m dsaii_core`)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np

from dsaii_core import imageio
from dsaii_core.demo import DEMO_DIR
from dsaii_core.workspace import Workspace


def cli(*args):
    return subprocess.run([sys.executable, "-m", "dsaii_core", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def test_bank_import_then_anomaly_masks_for_a_class(tmp_path):
    ws = Workspace.create(tmp_path / "ws")
    cls = ws.add_class("tile", kind="texture")
    for path in sorted((DEMO_DIR / "magnetic_tile" / "train" / "good").glob("*.jpg"))[:3]:
        ws.add_image(cls, imageio.thumbnail(imageio.read_image(path), 80))
    imported = cli("bank", "import", ws.root, DEMO_DIR / "transistor", "--license", "CC BY-NC-SA 4.0")
    assert imported.returncode == 0, imported.stderr
    assert "8 masks added to the bank" in imported.stdout
    listed = json.loads(cli("bank", "list", ws.root).stdout)
    assert listed["transistor/bent_lead"] == {"masks": 2, "license": "CC BY-NC-SA 4.0"}

    made = cli("anomaly-masks", ws.root, "--class", "tile", "--per-image", "2", "--seed", "5", "--user", "ana")
    assert made.returncode == 0, made.stderr
    assert "tile: 6 anomaly masks written" in made.stdout
    assert {d.user for d in Workspace.open(ws.root).catalog.history(cls.id)} == {"ana"}
    procedural = cli("anomaly-masks", ws.root, "--source", "procedural", "--per-image", "3")
    assert "3 anomaly masks written, " not in procedural.stdout and "tile: 3 anomaly masks written" in procedural.stdout
    ws = Workspace.open(ws.root)
    masks = ws.catalog.masks(kind="anomaly")
    assert len(masks) == 9 and {m.source for m in masks} == {"bank", "procedural"}
    assert all(0.05 <= m.area <= 0.10 for m in masks)
    assert ws.get_class("tile").settings["anomaly_masks"]["per_image"] == 3


def test_gen_masks_reads_reference_folders_and_writes_the_same_names(tmp_path):
    objects = tmp_path / "sam"
    background = np.full((64, 64), 255, np.uint8)
    background[8:56, 8:56] = 0
    for name in ("0.png", "1.png"):
        imageio.write_png(objects / "3" / name, background)
    shutil.copytree(DEMO_DIR / "hazelnut" / "ground_truth", tmp_path / "mvtec" / "hazelnut" / "ground_truth")
    result = cli("gen-masks", "--objects", objects, "--bank", tmp_path / "mvtec", "--out", tmp_path / "out",
                 "--seed", "1")
    assert result.returncode == 0, result.stderr
    assert "2 masks written from a bank of 8" in result.stdout
    for name in ("0.png", "1.png"):
        mask = imageio.read_mask(tmp_path / "out" / "3" / name)
        assert 0.01 <= (mask > 0).mean() <= 0.05 and not mask[background > 0].any()


def test_user_errors_are_one_line(tmp_path):
    Workspace.create(tmp_path / "ws")
    result = cli("anomaly-masks", tmp_path / "ws", "--class", "bolt")
    assert result.returncode == 1 and result.stderr.strip() == "error: unknown class 'bolt' (classes: none yet)"
    result = cli("gen-masks", "--objects", tmp_path, "--bank", tmp_path, "--out", tmp_path / "o")
    assert result.returncode == 1 and "no object masks found" in result.stderr and "Traceback" not in result.stderr
