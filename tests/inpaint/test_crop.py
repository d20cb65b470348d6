import cv2
import numpy as np
import pytest

from dsaii_core.inpaint.crop import blend_region, crop_around, crop_box, feather_alpha, paste_back


def _mask(shape, centre, axes):
    mask = np.zeros(shape, np.uint8)
    cv2.ellipse(mask, centre, axes, 20, 0, 360, 255, -1)
    return mask


@pytest.mark.parametrize("shape, centre, axes", [
    ((300, 400), (200, 150), (20, 12)),     # small defect in a larger image
    ((300, 400), (5, 290), (15, 10)),       # touching two borders
    ((120, 900), (450, 60), (400, 40)),     # defect wider than the model's size
    ((48, 40), (20, 24), (8, 8)),           # image smaller than the model's size
])
def test_paste_back_leaves_pixels_off_the_dilated_mask_byte_identical(shape, centre, axes):
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    mask = _mask(shape, centre, axes)
    crop = crop_around(image, mask, side=64, dilate_px=6)
    generated = rng.integers(0, 256, crop.image.shape, dtype=np.uint8)
    out = paste_back(image, mask, crop, generated, dilate_px=6)
    region = blend_region(mask, 6)
    assert out.shape == image.shape and out.dtype == np.uint8
    assert np.array_equal(out[~region], image[~region])
    assert (out[mask > 0] != image[mask > 0]).any()
    # the dilated region stays close to the mask
    assert region.sum() < (cv2.dilate(mask, np.ones((15, 15), np.uint8)) > 0).sum()


def test_crop_is_square_at_least_the_model_size_and_holds_the_mask():
    mask = _mask((600, 800), (700, 100), (30, 20))
    x0, y0, x1, y1 = crop_box(mask, 256, 16)
    assert (x1 - x0, y1 - y0) == (256, 256)
    assert 0 <= x0 and x1 <= 800 and 0 <= y0 and y1 <= 600
    rows, cols = np.nonzero(mask)
    assert x0 <= cols.min() and cols.max() < x1 and y0 <= rows.min() and rows.max() < y1
    crop = crop_around(np.zeros((600, 800, 3), np.uint8), mask, 512, 8)
    assert crop.image.shape == (512, 512, 3) and set(np.unique(crop.mask)) <= {0, 255}


def test_feather_is_one_on_the_mask_and_falls_to_zero():
    mask = _mask((100, 100), (50, 50), (10, 10))
    alpha = feather_alpha(mask, 8)
    assert (alpha[mask > 0] == 1).all()
    assert alpha[50, 50 + 10 + 4] > 0 and alpha[50, 50 + 10 + 4] < 1
    assert alpha[50, 50 + 10 + 12] == 0
    assert np.array_equal(feather_alpha(mask, 0) > 0, mask > 0)


def test_mask_bbox_bounds_the_pixels_of_any_mask_dtype_and_refuses_an_empty_one():
    from dsaii_core.errors import DsaiiError
    from dsaii_core.inpaint.crop import mask_bbox
    mask = np.zeros((40, 60), np.uint8)
    mask[5:9, 0:3] = 255
    mask[30, 59] = 1
    assert mask_bbox(mask) == (0, 5, 60, 31)
    assert mask_bbox(mask > 0) == (0, 5, 60, 31)
    with pytest.raises(DsaiiError):
        mask_bbox(np.zeros((4, 4), bool))
