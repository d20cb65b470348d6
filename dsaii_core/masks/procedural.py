"""Anomaly masks made from nothing: Perlin blobs (as in DRAEM), cracks, scratches, spots and holes.

Each try aims at an area drawn uniformly from the accept range, so most tries fit at once; the
accept rule, the object-mask intersection, the retries and the fallback are the bank's
(`augment.fit_area`). Deterministic for the state of the generator.
"""

from __future__ import annotations

import math
from typing import Callable, Iterator

import cv2
import numpy as np

from dsaii_core.masks.augment import AugmentParams, Candidate, MaskResult, Region, fit_area

NOISE_SIDE = 256  # Perlin noise is made at this size and resized: smooth shapes, small cost


def perlin_noise(shape: tuple[int, int], periods: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """2-D gradient (Perlin) noise in about [-1, 1] with `periods` = (rows, cols) lattice cells over `shape`."""
    height, width = shape
    cells_y, cells_x = periods
    angles = rng.uniform(0, 2 * math.pi, (cells_y + 1, cells_x + 1))
    gradients = np.stack([np.cos(angles), np.sin(angles)], axis=-1)
    y = (np.arange(height) + 0.5) * cells_y / height
    x = (np.arange(width) + 0.5) * cells_x / width
    yi, xi = np.floor(y).astype(int), np.floor(x).astype(int)
    yf, xf = (y - yi)[:, None], (x - xi)[None, :]

    def corner(dy: int, dx: int) -> np.ndarray:
        g = gradients[yi[:, None] + dy, xi[None, :] + dx]
        return g[..., 0] * (yf - dy) + g[..., 1] * (xf - dx)

    fade_y, fade_x = (6 * t ** 5 - 15 * t ** 4 + 10 * t ** 3 for t in (yf, xf))
    top = corner(0, 0) + fade_x * (corner(0, 1) - corner(0, 0))
    bottom = corner(1, 0) + fade_x * (corner(1, 1) - corner(1, 0))
    return math.sqrt(2) * (top + fade_y * (bottom - top))


def _target(rng: np.random.Generator, params: AugmentParams, region: Region) -> float:
    """Pixels the next try aims at: uniform in the accept range."""
    return float(rng.uniform(*params.area)) * region.pixels


def blob(rng: np.random.Generator, params: AugmentParams, region: Region) -> tuple[np.ndarray, dict]:
    """DRAEM's Perlin mask (periods 2^0..2^5 per axis, rotated), thresholded to the target area."""
    periods = (2 ** int(rng.integers(0, 6)), 2 ** int(rng.integers(0, 6)))
    angle = float(rng.uniform(-90, 90))
    noise = perlin_noise((NOISE_SIDE, NOISE_SIDE), periods, rng).astype(np.float32)
    turn = cv2.getRotationMatrix2D((NOISE_SIDE / 2, NOISE_SIDE / 2), angle, 1.0)
    noise = cv2.warpAffine(noise, turn, (NOISE_SIDE, NOISE_SIDE), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REFLECT)
    noise = cv2.resize(noise, (region.shape[1], region.shape[0]), interpolation=cv2.INTER_LINEAR)
    inside = noise if region.mask is None else noise[region.mask > 0]
    target = min(int(_target(rng, params, region)), inside.size)
    if target <= 0:
        return np.zeros(region.shape, np.uint8), {"shape": "blob"}
    threshold = np.partition(inside.ravel(), inside.size - target)[inside.size - target]
    return (noise >= threshold).astype(np.uint8), {"shape": "blob", "periods": list(periods), "angle": angle}


def _walk(rng: np.random.Generator, start: tuple[float, float], steps: int, step: float,
          wiggle: float) -> np.ndarray:
    """Points of a random walk whose heading drifts by `wiggle` radians per step."""
    heading = rng.uniform(0, 2 * math.pi) + np.cumsum(rng.normal(0, wiggle, steps))
    moves = step * np.stack([np.cos(heading), np.sin(heading)], axis=1)
    return np.vstack([start, start + np.cumsum(moves, axis=0)])


def crack(rng: np.random.Generator, params: AugmentParams, region: Region) -> tuple[np.ndarray, dict]:
    """A jagged crack: a random walk with branches, its width set so its length is plausible."""
    side = min(region.shape)
    width = int(rng.integers(1, max(2, side // 90) + 1))
    step = max(2.0, side / 60)
    length = _target(rng, params, region) / width
    canvas = np.zeros(region.shape, np.uint8)
    trunk = _walk(rng, region.random_point(rng), max(2, int(length * 0.7 / step)), step, 0.25)
    lines = [trunk]
    remaining = length * 0.3
    while remaining > step * 2:
        base = trunk[int(rng.integers(len(trunk)))]
        branch = _walk(rng, tuple(base), max(2, int(min(remaining, length * 0.15) / step)), step, 0.5)
        lines.append(branch)
        remaining -= len(branch) * step
    cv2.polylines(canvas, [np.round(p).astype(np.int32) for p in lines], False, 1, thickness=width,
                  lineType=cv2.LINE_8)
    return canvas, {"shape": "crack", "width": width, "branches": len(lines) - 1}


def _bezier(points: np.ndarray, samples: int = 64) -> np.ndarray:
    t = np.linspace(0, 1, samples)[:, None]
    p0, p1, p2, p3 = points
    return (1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * p1 + 3 * (1 - t) * t ** 2 * p2 + t ** 3 * p3


def scratch(rng: np.random.Generator, params: AugmentParams, region: Region) -> tuple[np.ndarray, dict]:
    """One to a few near-parallel thin Bézier strokes, like a tool slipping over the surface."""
    side = min(region.shape)
    width = int(rng.integers(1, max(2, side // 120) + 1))
    total = _target(rng, params, region) / width
    longest = 0.9 * math.hypot(*region.shape)
    strokes = max(1, math.ceil(total / longest), int(rng.integers(1, 4)))
    length = total / strokes
    centre = np.array(region.random_point(rng))
    direction = rng.uniform(0, 2 * math.pi)
    along = np.array([math.cos(direction), math.sin(direction)])
    across = np.array([-along[1], along[0]])
    canvas = np.zeros(region.shape, np.uint8)
    for index in range(strokes):
        offset = across * (index - (strokes - 1) / 2) * width * rng.uniform(3, 8)
        bend = across * rng.normal(0, 0.08) * length
        ts = np.array([-0.5, -1 / 6, 1 / 6, 0.5])[:, None]
        control = centre + offset + ts * length * along + np.array([[0, 0], [1, 1], [1, 1], [0, 0]]) * bend
        curve = np.round(_bezier(control)).astype(np.int32)
        cv2.polylines(canvas, [curve], False, 1, thickness=width, lineType=cv2.LINE_8)
    return canvas, {"shape": "scratch", "width": width, "strokes": strokes}


def spot(rng: np.random.Generator, params: AugmentParams, region: Region) -> tuple[np.ndarray, dict]:
    """A cluster of round spots (stains, pits) whose areas add up to the target."""
    count = int(rng.integers(3, 13))
    shares = rng.dirichlet(np.ones(count)) * _target(rng, params, region)
    radii = np.sqrt(shares / math.pi)
    centre = np.array(region.random_point(rng))
    spread = 2.5 * math.sqrt(shares.sum() / math.pi)
    canvas = np.zeros(region.shape, np.uint8)
    for radius in radii:
        x, y = centre + rng.normal(0, spread / 2, 2)
        cv2.circle(canvas, (int(round(x)), int(round(y))), max(1, int(round(radius))), 1, thickness=-1)
    return canvas, {"shape": "spot", "spots": count}


def hole(rng: np.random.Generator, params: AugmentParams, region: Region) -> tuple[np.ndarray, dict]:
    """One irregular filled outline (a hole, a chip, a dent) of about the target area."""
    radius = math.sqrt(_target(rng, params, region) / math.pi)
    corners = int(rng.integers(12, 33))
    angles = np.sort(rng.uniform(0, 2 * math.pi, corners))
    wobble = np.convolve(np.tile(rng.normal(0, 0.25, corners), 3), np.ones(3) / 3, mode="same")[corners:2 * corners]
    stretch = rng.uniform(0.6, 1.0)
    x0, y0 = region.random_point(rng)
    turn = rng.uniform(0, math.pi)
    rx, ry = radius * (1 + wobble) / math.sqrt(stretch), radius * (1 + wobble) * math.sqrt(stretch)
    xs = x0 + rx * np.cos(angles) * math.cos(turn) - ry * np.sin(angles) * math.sin(turn)
    ys = y0 + rx * np.cos(angles) * math.sin(turn) + ry * np.sin(angles) * math.cos(turn)
    canvas = np.zeros(region.shape, np.uint8)
    cv2.fillPoly(canvas, [np.round(np.stack([xs, ys], 1)).astype(np.int32)], 1)
    return canvas, {"shape": "hole", "corners": corners}


MAKERS: dict[str, Callable[[np.random.Generator, AugmentParams, Region], tuple[np.ndarray, dict]]] = {
    "blob": blob, "crack": crack, "scratch": scratch, "spot": spot, "hole": hole}


def procedural_candidates(region: Region, params: AugmentParams, rng: np.random.Generator) -> Iterator[Candidate]:
    """Endless tries: a shape from `params.shapes`, made for the region."""
    box = (0, region.shape[0], 0, region.shape[1])
    while True:
        name = params.shapes[int(rng.integers(len(params.shapes)))]
        canvas, detail = MAKERS[name](rng, params, region)
        yield Candidate(box, lambda c=canvas: c, detail)


def procedural_mask(shape: tuple[int, int], params: AugmentParams, rng: np.random.Generator,
                    object_mask: np.ndarray | None = None, texture: bool = False) -> MaskResult:
    """One procedural anomaly mask (H×W uint8 0/255) by the same accept rule as bank masks."""
    region = Region(shape, None if texture else object_mask)
    return fit_area(procedural_candidates(region, params, rng), region, params)
