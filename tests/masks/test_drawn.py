"""Masks drawn by hand: canvas pixels to add / erase strokes, last stroke wins, scaled to the image."""

from __future__ import annotations

import numpy as np
import pytest

from dsaii_core.masks.drawn import (ADD_COLOUR, ERASE_COLOUR, STROKE_OPACITY, apply_strokes, canvas_strokes,
                                    css_colour, drawn_mask)


def paint(canvas: np.ndarray, box: tuple[int, int, int, int], colour: tuple[int, int, int]) -> None:
    """Paint a semi-opaque stroke over what is there, as a browser canvas composites it."""
    y0, y1, x0, x1 = box
    top = np.array([*colour, 255 * STROKE_OPACITY], float)
    under = canvas[y0:y1, x0:x1].astype(float)
    a_top, a_under = top[3] / 255, under[..., 3:] / 255
    alpha = a_top + a_under * (1 - a_top)
    rgb = (top[:3] * a_top + under[..., :3] * a_under * (1 - a_top)) / np.maximum(alpha, 1e-9)
    canvas[y0:y1, x0:x1] = np.dstack([rgb, alpha * 255]).round().astype(np.uint8)


def test_add_and_erase_strokes_are_told_apart_and_the_last_one_wins():
    canvas = np.zeros((40, 40, 4), np.uint8)
    paint(canvas, (0, 20, 0, 20), ADD_COLOUR)
    paint(canvas, (10, 30, 10, 30), ERASE_COLOUR)   # erases part of the first stroke
    paint(canvas, (25, 35, 25, 35), ADD_COLOUR)     # then adds on top of the eraser
    add, erase = canvas_strokes(canvas, (40, 40))
    assert add[5, 5] and add[30, 30] and not add[15, 15]
    assert erase[15, 15] and erase[12, 25] and not erase[30, 30]
    assert not add[38, 2] and not erase[38, 2]


def test_strokes_edit_an_existing_mask_and_scale_to_the_image():
    base = np.zeros((80, 120), np.uint8)
    base[:, :60] = 255
    canvas = np.zeros((40, 60, 4), np.uint8)     # the canvas is shown at half size
    paint(canvas, (0, 10, 0, 10), ERASE_COLOUR)
    paint(canvas, (30, 40, 50, 60), ADD_COLOUR)
    mask = drawn_mask(canvas, base, (80, 120))
    assert mask.shape == (80, 120) and set(np.unique(mask)) == {0, 255}
    assert not mask[:20, :20].any() and mask[20:, :60].all()
    assert mask[60:, 100:].all() and not mask[:60, 60:].any()


def test_no_drawing_keeps_the_base_and_faint_edges_are_ignored():
    base = np.zeros((10, 10), np.uint8)
    base[2:4, 2:4] = 255
    assert np.array_equal(drawn_mask(None, base, (10, 10)), base)
    assert not drawn_mask(None, None, (10, 10)).any()
    faint = np.zeros((10, 10, 4), np.uint8)
    faint[..., :3] = ADD_COLOUR
    faint[..., 3] = 20  # anti-aliasing
    assert np.array_equal(apply_strokes(base, *canvas_strokes(faint, (10, 10))), base)


def test_bad_canvas_data_and_colours():
    with pytest.raises(ValueError):
        canvas_strokes(np.zeros((4, 4, 3), np.uint8), (4, 4))
    assert css_colour((1, 2, 3), 0.5) == "rgba(1, 2, 3, 0.5)"
