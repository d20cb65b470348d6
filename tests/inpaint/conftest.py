"""Fixtures of the inpaint tests: a tiny workspace whose normal images carry anomaly masks."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from dsaii_core import imageio
from dsaii_core.demo import DEMO_DIR
from dsaii_core.workspace import Workspace


def add_ellipse_masks(ws: Workspace, cls, per_image: int = 1) -> list:
    """One or more drawn elliptical anomaly masks on every kept normal image of `cls`."""
    masks = []
    for item in ws.catalog.items(class_id=cls.id, role="normal", statuses=("kept",)):
        for n in range(per_image):
            mask = np.zeros((item.height, item.width), np.uint8)
            centre = (item.width // 2 + 7 * n, item.height // 2 - 5 * n)
            cv2.ellipse(mask, centre, (max(4, item.width // 8), max(3, item.height // 12)), 30, 0, 360, 255, -1)
            masks.append(ws.add_mask(item, mask, kind="anomaly", source="drawn"))
    return masks


@pytest.fixture
def masked_ws(tmp_path) -> Workspace:
    """hazelnut: four real 128² normals with one drawn anomaly mask each, plus one real crack defect."""
    ws = Workspace.create(tmp_path / "ws")
    cls = ws.add_class("hazelnut")
    for path in sorted((DEMO_DIR / "hazelnut" / "train" / "good").glob("*.png"))[:4]:
        ws.add_image(cls, imageio.thumbnail(imageio.read_image(path), 128))
    defect = imageio.thumbnail(imageio.read_image(DEMO_DIR / "hazelnut/test/crack/000.png"), 128)
    truth = imageio.read_mask(DEMO_DIR / "hazelnut/ground_truth/crack/000_mask.png", shape=(128, 128), resize=True)
    item = ws.add_image(cls, defect, role="anomaly", status="accepted", origin="import", defect="crack").item
    ws.catalog.set_item_fields(item.id, mask_id=ws.add_mask(item, truth, kind="anomaly", source="ground_truth").id)
    add_ellipse_masks(ws, cls)
    return ws
