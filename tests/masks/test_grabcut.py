"""Weight-free object masks on real demo images (hazelnut reference: tests/fixtures/object_reference.py)."""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage

from dsaii_core import imageio
from dsaii_core.demo import DEMO_DIR
from dsaii_core.masks import grabcut, select
from dsaii_core.masks.select import iou
from tests.fixtures.object_reference import hazelnut


def test_grabcut_from_the_centre_finds_the_hazelnut():
    image, reference = hazelnut(3)
    assert iou(grabcut.grabcut(image), reference) >= 0.8


def test_grabcut_from_a_box_around_the_nut():
    image, reference = hazelnut(7)
    rows, cols = np.nonzero(reference)
    box = (cols.min() - 8, rows.min() - 8, cols.max() + 8, rows.max() + 8)
    assert iou(grabcut.grabcut(image, box=box), reference) >= 0.85


def test_grabcut_repairs_a_rough_mask():
    image, reference = hazelnut(1)
    rough = ndimage.binary_erosion(reference, iterations=12)  # a mask that stops well short of the shell
    assert iou(rough, reference) < 0.8
    assert iou(grabcut.grabcut(image, init_mask=rough), reference) >= 0.85


def test_clicks_remove_background_and_restore_missed_object():
    image, reference = hazelnut(2)
    with_background = reference.copy()
    with_background[:40, :40] = True  # a wrongly included corner of background
    fixed = grabcut.grabcut(image, init_mask=with_background, negative=[(20.0, 20.0)])
    assert not fixed[:40, :40].any() and iou(fixed, reference) >= 0.85
    rows, cols = np.nonzero(reference)
    top = rows.min()
    missing = reference.copy()
    missing[: top + 30] = False  # the top of the nut cut off
    click = (float(cols[rows == top + 10].mean()), float(top + 10))
    restored = grabcut.grabcut(image, init_mask=missing, positive=[click])
    assert restored[top + 10, round(click[0])] and iou(restored, reference) > iou(missing, reference)


def test_background_click_inside_the_object_stays_out_of_it():
    image, reference = hazelnut(2)
    rows, cols = np.nonzero(reference)
    inside = (float(cols.mean()), float(rows.mean()))
    result = grabcut.grabcut(image, init_mask=reference, negative=[inside])
    assert not result[round(inside[1]), round(inside[0])]


def test_saliency_finds_the_hazelnut():
    image, reference = hazelnut(10)
    assert iou(grabcut.saliency_mask(image), reference) >= 0.8


def test_large_image_is_worked_at_reduced_size_and_returned_full_size():
    image = imageio.read_image(sorted((DEMO_DIR / "ball_screw" / "train" / "good").glob("*"))[0])
    mask = grabcut.grabcut(image)
    assert mask.shape == image.shape[:2] and mask.dtype == bool


def test_uniform_image_gives_no_crash_and_a_valid_mask():
    image = np.full((40, 60, 3), 128, np.uint8)
    assert grabcut.saliency_mask(image).shape == (40, 60)
    assert grabcut.grabcut(image).shape == (40, 60)
    sources = [c.source for c in grabcut.candidates(image)]
    assert "grabcut-centre" in sources


def test_clean_keeps_the_largest_piece_and_fills_holes():
    mask = np.zeros((50, 50), bool)
    mask[10:30, 10:30] = True
    mask[15:20, 15:20] = False  # a hole
    mask[40:43, 40:43] = True  # a speck
    cleaned = grabcut.clean(mask)
    assert cleaned[17, 17] and not cleaned[41, 41]


def _chosen(image: np.ndarray, **settings) -> np.ndarray:
    candidates = [*grabcut.candidates(image, **settings), select.frame(image.shape[:2])]
    return select.choose(candidates, image=image).candidate.mask


def test_candidates_at_the_working_resolution_keep_the_quality_of_the_full_quality_ones():
    # The pipeline's 512² photos: the cheap defaults pick a mask as good as the one 320 px / 5 rounds picked.
    for index in (0, 5, 9, 14):
        image, reference = hazelnut(index)
        image = cv2.resize(image, (512, 512), interpolation=cv2.INTER_LINEAR)
        reference = cv2.resize(reference.astype(np.uint8), (512, 512), interpolation=cv2.INTER_NEAREST) > 0
        now = _chosen(image)
        before = _chosen(image, work_side=grabcut.WORK_SIDE, iterations=5, refine=False)
        assert iou(now, reference) >= 0.9
        assert iou(now, reference) >= iou(before, reference) - 0.02
        assert iou(now, before) >= 0.9


def test_refined_candidates_are_full_size_and_follow_the_edges():
    image, reference = hazelnut(6)
    rough = grabcut.candidates(image, work_side=64, refine=False)
    refined = grabcut.candidates(image, work_side=64, refine=True)
    assert [c.source for c in rough] == [c.source for c in refined]
    for a, b in zip(rough, refined):
        assert b.mask.shape == image.shape[:2] and b.mask.dtype == bool
    pairs = [(a, b) for a, b in zip(rough, refined) if a.source == "grabcut-saliency"]
    assert pairs and iou(pairs[0][1].mask, reference) >= iou(pairs[0][0].mask, reference)


def test_candidates_depend_on_the_image_only():
    image, _ = hazelnut(4)
    first = grabcut.candidates(image)
    grabcut.grabcut(hazelnut(8)[0])  # advances OpenCV's RNG, which k-means and GrabCut seed from
    cv2.randu(np.zeros((4, 4), np.float32), 0, 1)
    again = grabcut.candidates(image)
    assert [c.source for c in first] == [c.source for c in again]
    assert all(np.array_equal(a.mask, b.mask) for a, b in zip(first, again))
