"""Procedural anomaly masks: each shape obeys the accept rule, stays on the object, repeats per seed."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from dsaii_core.masks.augment import SHAPES, AugmentParams
from dsaii_core.masks.procedural import perlin_noise, procedural_mask


def ellipse_object(shape=(240, 320)) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.ellipse(mask, (shape[1] // 2, shape[0] // 2), (shape[1] // 3, shape[0] // 3), 20, 0, 360, 255, -1)
    return mask


def components(mask: np.ndarray) -> int:
    return cv2.connectedComponents((mask > 0).astype(np.uint8))[0] - 1


@pytest.mark.parametrize("shape", SHAPES)
def test_each_shape_fits_the_area_on_the_object_and_repeats(shape):
    obj = ellipse_object()
    params = AugmentParams(source="procedural", shapes=(shape,))
    for seed in range(6):
        result = procedural_mask(obj.shape, params, np.random.default_rng(seed), object_mask=obj)
        assert result.fitted and 0.01 <= result.area <= 0.05, (shape, seed, result.area)
        assert set(np.unique(result.mask)) == {0, 255}
        assert not np.any(result.mask[obj == 0])
        assert result.detail["shape"] == shape
        again = procedural_mask(obj.shape, params, np.random.default_rng(seed), object_mask=obj)
        assert again.mask.tobytes() == result.mask.tobytes()


def thinness(mask: np.ndarray) -> float:
    """Area over squared perimeter: small for strokes, about 1/(4π) for a disc."""
    contours, _ = cv2.findContours((mask > 0).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    perimeter = sum(cv2.arcLength(c, True) for c in contours)
    return np.count_nonzero(mask) / perimeter ** 2


def test_shapes_look_like_what_they_are_called():
    shape = (256, 256)
    masks = {name: [procedural_mask(shape, AugmentParams(source="procedural", shapes=(name,)),
                                    np.random.default_rng(seed), texture=True).mask for seed in range(5)]
             for name in SHAPES}
    assert np.median([thinness(m) for m in masks["crack"]]) < 0.02
    assert np.median([thinness(m) for m in masks["scratch"]]) < 0.02
    assert np.median([thinness(m) for m in masks["hole"]]) > 0.05
    assert all(components(m) == 1 for m in masks["hole"])
    assert np.median([components(m) for m in masks["spot"]]) >= 2


def test_textures_use_the_whole_image_and_their_range():
    params = AugmentParams.defaults_for("texture").replace(source="procedural")
    for seed in range(10):
        result = procedural_mask((200, 150), params, np.random.default_rng(seed), texture=True)
        assert result.fitted and 0.05 <= result.area <= 0.10


def test_a_part_too_small_for_the_range_is_reported_not_hidden():
    obj = np.zeros((100, 100), np.uint8)
    obj[50:52, 50:52] = 255
    params = AugmentParams(source="procedural", retries=20)
    result = procedural_mask(obj.shape, params, np.random.default_rng(0), object_mask=obj)
    assert not result.fitted and result.tries == 21
    assert np.count_nonzero(result.mask) <= 4 and not np.any(result.mask[obj == 0])


def test_perlin_noise_is_smooth_bounded_and_seeded():
    a = perlin_noise((64, 96), (2, 3), np.random.default_rng(5))
    b = perlin_noise((64, 96), (2, 3), np.random.default_rng(5))
    assert a.shape == (64, 96) and np.array_equal(a, b)
    assert np.abs(a).max() <= 1.01 and a.std() > 0.1
    assert np.abs(np.diff(a, axis=1)).max() < 0.2  # neighbouring pixels differ little


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), height=st.integers(24, 120), width=st.integers(24, 120),
       shapes=st.lists(st.sampled_from(SHAPES), min_size=1, max_size=5, unique=True))
def test_any_shape_mix_is_binary_inside_and_in_range_when_fitted(seed, height, width, shapes):
    obj = ellipse_object((height, width))
    params = AugmentParams(source="procedural", shapes=tuple(shapes), retries=30)
    result = procedural_mask((height, width), params, np.random.default_rng(seed), object_mask=obj)
    assert set(np.unique(result.mask)) <= {0, 255} and not np.any(result.mask[obj == 0])
    if result.fitted:
        assert 0.01 * height * width <= np.count_nonzero(result.mask) <= 0.05 * height * width
    again = procedural_mask((height, width), params, np.random.default_rng(seed), object_mask=obj)
    assert again.mask.tobytes() == result.mask.tobytes()
