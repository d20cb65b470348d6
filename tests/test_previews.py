"""Grid previews: made from the pixels as an image is added, read back small, remade when the file changes."""

from __future__ import annotations

import os

import numpy as np

from dsaii_core import imageio
from dsaii_core.demo import DEMO_DIR
from dsaii_core.workspace import Workspace


def test_an_added_normal_has_its_preview_and_the_grid_reads_it_without_decoding_the_photo(tmp_path, monkeypatch):
    ws = Workspace.create(tmp_path / "ws")
    photo = imageio.read_image(next((DEMO_DIR / "hazelnut" / "train" / "good").glob("*.png")))
    item = ws.add_image(ws.add_class("hazelnut"), photo).item
    [kept] = list(ws.previews_dir.glob("*.jpg"))
    decoded = []
    monkeypatch.setattr(imageio, "read_image", lambda *a, **k: decoded.append(a) or np.zeros((2, 2, 3), np.uint8))
    small = imageio.preview(ws.path(item.file), ws.previews_dir)
    assert not decoded and small.shape == (256, 256, 3)
    monkeypatch.undo()
    expected = imageio.thumbnail(photo, 256).astype(int)
    assert np.abs(small.astype(int) - expected).mean() < 2  # a JPEG of the same thumbnail
    assert list(ws.previews_dir.glob("*.jpg")) == [kept]


def test_a_file_written_anew_gets_a_new_preview(tmp_path):
    path, cache = tmp_path / "a.png", tmp_path / "previews"
    imageio.write_png(path, np.zeros((64, 64, 3), np.uint8))
    assert imageio.preview(path, cache).max() < 5
    imageio.write_png(path, np.full((64, 64, 3), 255, np.uint8))
    os.utime(path, ns=(1, 1))  # even with another modification time only, the key changes
    assert imageio.preview(path, cache).min() > 250
    assert len(list(cache.glob("*.jpg"))) == 2
