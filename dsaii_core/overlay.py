"""Mask overlays that stay visible on grey industrial images: a tinted fill plus an outline."""

from __future__ import annotations

import cv2
import numpy as np


def overlay_mask(image: np.ndarray, mask: np.ndarray, colour: tuple[int, int, int] = (255, 0, 90),
                 opacity: float = 0.35, outline_px: int = 2) -> np.ndarray:
    """RGB image with the mask tinted at `opacity` and outlined in `colour` (then black, for contrast)."""
    image = image if image.ndim == 3 else np.repeat(image[:, :, None], 3, axis=2)
    inside = mask > 0
    out = image.astype(np.float32)
    out[inside] = out[inside] * (1 - opacity) + np.asarray(colour, np.float32) * opacity
    out = out.astype(np.uint8)
    if outline_px > 0 and inside.any():
        contours, _ = cv2.findContours(inside.astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
        scale = max(1, round(max(image.shape[:2]) / 512))
        cv2.drawContours(out, contours, -1, (0, 0, 0), (outline_px + 2) * scale)
        cv2.drawContours(out, contours, -1, colour, outline_px * scale)
    return out
