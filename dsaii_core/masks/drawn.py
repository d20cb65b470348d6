"""Masks drawn by hand: turn what a drawing canvas returns into an edit of a binary mask.

The canvas paints "add" strokes in ADD_COLOUR and "erase" strokes in ERASE_COLOUR, both
semi-opaque over the image. Where strokes overlap the later one is on top, so a pixel's
dominant colour says which stroke came last: last stroke wins, as in any paint program.
"""

from __future__ import annotations

import cv2
import numpy as np

from dsaii_core import imageio
from dsaii_core.errors import DsaiiError

ADD_COLOUR = (255, 0, 90)
ERASE_COLOUR = (0, 170, 255)
STROKE_OPACITY = 0.75
MIN_ALPHA = 96  # fainter pixels are anti-aliasing at a stroke's edge


def css_colour(colour: tuple[int, int, int], opacity: float = STROKE_OPACITY) -> str:
    """The CSS rgba() string a canvas needs for a stroke colour."""
    return f"rgba({colour[0]}, {colour[1]}, {colour[2]}, {opacity})"


def check_canvas_pixels(rgba: np.ndarray, height: int, width: int) -> np.ndarray:
    """`rgba` itself when it is the canvas's height × width × 4 uint8 picture; DsaiiError otherwise.

    A browser can send back any picture: one of another size is not a drawing on this canvas.
    """
    rgba = np.asarray(rgba)
    if rgba.shape != (height, width, 4) or rgba.dtype != np.uint8:
        got = "×".join(map(str, rgba.shape)) + ("" if rgba.dtype == np.uint8 else f" {rgba.dtype}")
        raise DsaiiError(f"the drawing canvas sent a {got} picture, not its {height}×{width}×4 RGBA drawing: "
                         "ignored")
    return rgba


def read_canvas(png: bytes | None, height: int, width: int) -> np.ndarray | None:
    """The RGBA pixels of a canvas's returned PNG (None: nothing drawn yet), checked against its size.

    Decoded by our reader, PNG size limited to the canvas's own pixel count, so a crafted picture is refused
    from its header instead of being decoded (DsaiiError saying what was wrong).
    """
    if png is None:
        return None
    try:
        rgba = imageio.read_pixels(png, "the drawing canvas's picture", limit=max(1, height * width))
    except DsaiiError as exc:
        raise DsaiiError(f"{exc}: ignored") from exc
    return check_canvas_pixels(rgba, height, width)


def canvas_strokes(rgba: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(add, erase) boolean masks of an image of `shape` = (height, width) from canvas RGBA pixels.

    The canvas may be smaller or larger than the image: strokes are scaled to the image (nearest).
    """
    rgba = np.asarray(rgba)
    if rgba.ndim != 3 or rgba.shape[2] != 4:
        raise ValueError(f"expected H×W×4 RGBA canvas pixels, got shape {rgba.shape}")
    painted = rgba[:, :, 3] >= MIN_ALPHA
    colour = rgba[:, :, :3].astype(np.int32)
    # Nearer to the add colour than to the erase colour: |c - A|² < |c - E|².
    add_side = 2 * colour @ np.subtract(ADD_COLOUR, ERASE_COLOUR) > np.dot(ADD_COLOUR, ADD_COLOUR) - np.dot(
        ERASE_COLOUR, ERASE_COLOUR)
    add = painted & add_side
    erase = painted & ~add_side
    height, width = shape
    if add.shape != (height, width):
        add = cv2.resize(add.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST) > 0
        erase = cv2.resize(erase.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST) > 0
    return add, erase


def apply_strokes(base: np.ndarray | None, add: np.ndarray, erase: np.ndarray) -> np.ndarray:
    """The edited mask (uint8 0/255): base (None: empty) plus the add strokes, minus the erase strokes."""
    mask = np.zeros(add.shape, bool) if base is None else imageio.binarize(base) > 0
    return imageio.binarize((mask | add) & ~erase)


def drawn_mask(rgba: np.ndarray | None, base: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray:
    """The mask a canvas drawing makes of `base` (None: start empty) for an image of `shape`."""
    if rgba is None:
        return np.zeros(shape, np.uint8) if base is None else imageio.binarize(base)
    return apply_strokes(base, *canvas_strokes(rgba, shape))
