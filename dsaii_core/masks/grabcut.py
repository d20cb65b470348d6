"""Object masks without model weights: OpenCV GrabCut and a border-colour saliency threshold.

Inspection photos put the object in the middle of a fairly uniform background, so "colour far
from the colours seen along the border" (Otsu-thresholded) finds most objects, and GrabCut,
initialised from the centre, a box, a mask or clicks, sharpens the outline. All work is done on a
copy at most WORK_SIDE px long (CANDIDATE_SIDE for the automatic candidates of every image) and the
result is scaled back, so a mask takes well under a second; `refine_edges` puts a scaled-back outline
onto the full-resolution colour edges.
"""

from __future__ import annotations

import math
from typing import Sequence

import cv2
import numpy as np
from scipy import ndimage

from dsaii_core.masks.select import Candidate

WORK_SIDE = 320  # GrabCut on a box, a mask or clicks (the editor)
CANDIDATE_SIDE = 160  # the automatic candidates of every image: enough for the shape, refined at full size
CANDIDATE_ITERATIONS = 3
CENTRE_MARGIN = 0.1
BORDER_COLOURS = 4
REACH = 0.3  # how far (share of the long side) GrabCut may grow a mask it starts from
CLICK_RADIUS = 0.015  # a click marks a disc this share of the long side wide as sure object / background


def _work_copy(image: np.ndarray, side: int = WORK_SIDE) -> tuple[np.ndarray, float]:
    """The image scaled so its long side is at most `side`, and the scale used."""
    height, width = image.shape[:2]
    scale = min(1.0, side / max(height, width))
    if scale == 1.0:
        return np.ascontiguousarray(image), 1.0
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), scale


def _full_size(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A working-size bool mask back at the image's (height, width), edges smoothed."""
    if mask.shape == shape:
        return mask
    soft = cv2.resize(mask.astype(np.float32), (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
    return soft >= 0.5


def clean(mask: np.ndarray, keep: str = "largest") -> np.ndarray:
    """The mask with holes filled, specks removed and only its largest piece (or all big pieces) kept."""
    mask = ndimage.binary_fill_holes(mask > 0)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count <= 1:
        return mask
    areas = stats[1:, cv2.CC_STAT_AREA]
    if keep == "largest":
        return labels == 1 + int(np.argmax(areas))
    return np.isin(labels, 1 + np.flatnonzero(areas >= 0.1 * areas.max()))


def centre_rect(shape: tuple[int, int], margin: float = CENTRE_MARGIN) -> tuple[int, int, int, int]:
    """x0, y0, x1, y1 of the centre box leaving `margin` of each side out."""
    height, width = shape
    return (round(width * margin), round(height * margin), round(width * (1 - margin)), round(height * (1 - margin)))


def grabcut(image: np.ndarray, box: Sequence[float] | None = None, init_mask: np.ndarray | None = None,
            positive: Sequence[tuple[float, float]] = (), negative: Sequence[tuple[float, float]] = (),
            iterations: int = 5, work_side: int = WORK_SIDE) -> np.ndarray:
    """GrabCut's object mask (H×W bool) from a box (x0, y0, x1, y1), a mask to improve, and/or clicks.

    With neither box nor mask the centre box is used. Clicks become sure object / sure background
    discs; a mask gives probable labels with a sure core and a sure outside. The work is done at most
    `work_side` px long.
    """
    shape = image.shape[:2]
    work, scale = _work_copy(image, work_side)
    height, width = work.shape[:2]
    labels = np.full((height, width), cv2.GC_BGD, np.uint8)
    if init_mask is not None:
        small = _work_copy((np.asarray(init_mask) > 0).astype(np.uint8) * 255, work_side)[0] > 127
        if not small.any() or small.all():
            small = np.zeros_like(small)
            box = box if box is not None else centre_rect(shape)
        else:
            size = max(3, round(0.03 * max(height, width)) | 1)
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
            core = cv2.erode(small.astype(np.uint8), kernel) > 0
            # Far from the mask is surely background; nearer, GrabCut may grow the mask.
            far = max(3, round(REACH * max(height, width)) | 1)
            reach = cv2.dilate(small.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (far, far))) > 0
            labels[reach] = cv2.GC_PR_BGD
            labels[small] = cv2.GC_PR_FGD
            labels[core] = cv2.GC_FGD
    if init_mask is None or box is not None:
        x0, y0, x1, y1 = (round(v * scale) for v in (box if box is not None else centre_rect(shape)))
        x0, y0 = max(0, min(x0, width - 2)), max(0, min(y0, height - 2))
        x1, y1 = max(x0 + 2, min(x1, width)), max(y0 + 2, min(y1, height))
        inside = labels[y0:y1, x0:x1]
        inside[inside == cv2.GC_BGD] = cv2.GC_PR_FGD
    radius = click_radius((height, width))
    clicked = {cv2.GC_FGD: np.zeros((height, width), np.uint8), cv2.GC_BGD: np.zeros((height, width), np.uint8)}
    for points, value in ((positive, cv2.GC_FGD), (negative, cv2.GC_BGD)):
        for x, y in points:
            cv2.circle(labels, (round(x * scale), round(y * scale)), radius, int(value), -1)
            cv2.circle(clicked[value], (round(x * scale), round(y * scale)), radius, 1, -1)
    if not np.isin(labels, (cv2.GC_BGD, cv2.GC_PR_BGD)).any() or not np.isin(labels, (cv2.GC_FGD, cv2.GC_PR_FGD)).any():
        return _full_size(np.isin(labels, (cv2.GC_FGD, cv2.GC_PR_FGD)), shape)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    # grabCut seeds its colour models from OpenCV's per-thread RNG, which earlier calls advance:
    # reset it so an image's mask depends on the image only (same in any order, process or worker).
    cv2.setRNGSeed(0)
    cv2.grabCut(cv2.cvtColor(work, cv2.COLOR_RGB2BGR), labels, None, bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK)
    found = np.isin(labels, (cv2.GC_FGD, cv2.GC_PR_FGD))
    result = clean(found, keep="big")
    # A piece the user clicked on stays, however small; filling holes must not undo a background click.
    pieces, _ = ndimage.label(found)
    result |= np.isin(pieces, np.unique(pieces[(clicked[cv2.GC_FGD] > 0) & found]))
    return _full_size(result & (clicked[cv2.GC_BGD] == 0), shape)


def click_radius(shape: tuple[int, int]) -> int:
    """Radius in px of the disc a click marks on an image of `shape` = (height, width)."""
    return max(2, round(CLICK_RADIUS * max(shape)))


def refine_edges(image: np.ndarray, mask: np.ndarray, scale: float) -> np.ndarray:
    """A mask computed at `scale` (< 1) of `image` and scaled back, its outline moved onto the image's edges.

    Only a band about 1.5 working pixels either side of the outline may change: there each pixel joins the
    side whose nearby colour it is closer to (the mean colour of the sure inside / outside within a few band
    widths), then a 5 px median removes specks. Costs a few full-resolution box filters around the mask.
    """
    mask = np.asarray(mask) > 0
    reach = max(2, math.ceil(1.5 / scale))
    rows, cols = np.nonzero(mask)
    if rows.size == 0 or rows.size == mask.size:
        return mask
    # Only the outline's surroundings are looked at: the mask's box, grown by the band and the colour window.
    grow = 4 * reach + 1
    y0, y1 = max(0, rows.min() - grow), min(mask.shape[0], rows.max() + grow + 1)
    x0, x1 = max(0, cols.min() - grow), min(mask.shape[1], cols.max() + grow + 1)
    refined = mask.copy()
    refined[y0:y1, x0:x1] = _refine_window(image[y0:y1, x0:x1], mask[y0:y1, x0:x1], reach)
    return refined


def _refine_window(image: np.ndarray, mask: np.ndarray, reach: int) -> np.ndarray:
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))
    inside = cv2.erode(mask.astype(np.uint8), kernel) > 0
    outside = cv2.dilate(mask.astype(np.uint8), kernel) == 0
    band = ~inside & ~outside
    pixels = image.astype(np.float32)
    window = (6 * reach + 1, 6 * reach + 1)

    def nearby_colour(side: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        weight = cv2.boxFilter(side.astype(np.float32), -1, window, normalize=False)
        total = cv2.boxFilter(pixels * side[..., None], -1, window, normalize=False)
        return total / np.maximum(weight, 1e-6)[..., None], weight

    inner, inner_weight = nearby_colour(inside)
    outer, outer_weight = nearby_colour(outside)
    closer_inside = ((pixels - inner) ** 2).sum(axis=2) < ((pixels - outer) ** 2).sum(axis=2)
    decided = band & (inner_weight > 0) & (outer_weight > 0)
    vote = np.where(decided, closer_inside, mask).astype(np.uint8) * 255
    vote = cv2.medianBlur(vote, 5) > 127
    return np.where(band, vote, mask)


def border_saliency(image: np.ndarray, work_side: int = WORK_SIDE) -> np.ndarray:
    """Per pixel (at most `work_side` px long), the Lab distance to the nearest of the colours seen along the border."""
    work, _ = _work_copy(image, work_side)
    lab = cv2.cvtColor(cv2.GaussianBlur(work, (5, 5), 0), cv2.COLOR_RGB2LAB).astype(np.float32)
    strip = max(2, round(0.02 * max(lab.shape[:2])))
    border = np.concatenate([lab[:strip].reshape(-1, 3), lab[-strip:].reshape(-1, 3),
                             lab[:, :strip].reshape(-1, 3), lab[:, -strip:].reshape(-1, 3)])
    colours = min(BORDER_COLOURS, len(np.unique(border.round(), axis=0)))
    # OpenCV's k-means: no second of scikit-learn import per worker, no thread pool fighting the other
    # workers for the cores (~0.1 s a call on a busy 2-core machine); seeded, so the same on every run.
    cv2.setRNGSeed(0)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 100, 1e-4)
    _, _, centres = cv2.kmeans(np.ascontiguousarray(border), colours, None, criteria, 2, cv2.KMEANS_PP_CENTERS)
    distance = np.linalg.norm(lab[:, :, None, :] - centres[None, None], axis=3).min(axis=2)
    return distance


def saliency_mask(image: np.ndarray, work_side: int = WORK_SIDE) -> np.ndarray:
    """Object mask (H×W bool) from the Otsu threshold of the border-colour saliency, cleaned."""
    distance = border_saliency(image, work_side)
    top = float(distance.max())
    if top <= 0:
        return np.zeros(image.shape[:2], bool)
    scaled = np.round(distance * (255.0 / top)).astype(np.uint8)
    _, binary = cv2.threshold(scaled, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    size = max(3, round(0.02 * max(binary.shape)) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    binary = cv2.morphologyEx(cv2.morphologyEx(binary, cv2.MORPH_OPEN, kernel), cv2.MORPH_CLOSE, kernel)
    return _full_size(clean(binary > 0), image.shape[:2])


def candidates(image: np.ndarray, work_side: int = CANDIDATE_SIDE, iterations: int = CANDIDATE_ITERATIONS,
               refine: bool = True) -> list[Candidate]:
    """Weight-free object-mask candidates: saliency threshold, GrabCut from it, GrabCut from the centre box.

    Worked at most `work_side` px long with `iterations` GrabCut rounds; with `refine` the GrabCut outlines
    are then moved onto the full-resolution colour edges (refine_edges). The defaults (CANDIDATE_SIDE,
    CANDIDATE_ITERATIONS) are ~8× cheaper than WORK_SIDE with 5 rounds at the same IoU with reference masks
    (benchmarks/bench_object_masks.py measures both).
    """
    salient = saliency_mask(image, work_side)
    found = [Candidate(mask=salient, source="saliency")]
    scale = min(1.0, work_side / max(image.shape[:2]))
    polish = (lambda mask: refine_edges(image, mask, scale)) if refine and scale < 1 else (lambda mask: mask)
    if salient.any() and not salient.all():
        mask = grabcut(image, init_mask=salient, iterations=iterations, work_side=work_side)
        found.append(Candidate(mask=polish(mask), source="grabcut-saliency"))
    found.append(Candidate(mask=polish(grabcut(image, iterations=iterations, work_side=work_side)),
                           source="grabcut-centre"))
    return found
