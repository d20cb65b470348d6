import cv2
import numpy as np

from dsaii_core import imageio
from dsaii_core.demo import DEMO_DIR
from dsaii_core.inpaint.base import paste_outside


def test_paste_outside_keeps_every_pixel_off_the_mask_and_ramps_in_at_its_edge():
    normal = imageio.read_image(DEMO_DIR / "hazelnut/train/good/000.png")
    result = (255 - normal).astype(np.uint8)  # changed everywhere, as a VAE round trip does
    mask = np.zeros(normal.shape[:2], np.uint8)
    cv2.circle(mask, (128, 128), 30, 255, -1)
    out = paste_outside(normal, result, mask)
    assert np.array_equal(out[mask == 0], normal[mask == 0])
    core = cv2.erode(mask, np.ones((5, 5), np.uint8)) > 0
    assert np.array_equal(out[core], result[core])
    edge = (mask > 0) & (cv2.erode(mask, np.ones((3, 3), np.uint8)) == 0)
    assert (out[edge] != normal[edge]).all(axis=1).mean() > 0.9  # changed, but only part of the way
    assert (out[edge] != result[edge]).all(axis=1).mean() > 0.9
    assert np.array_equal(paste_outside(normal, result, mask, feather_px=0)[mask > 0], result[mask > 0])
