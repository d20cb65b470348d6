"""Anomaly masks from a bank of real defect masks, by the reference `gen_mask.py` rule.

The rule (DSAII's gen_mask.py): draw a bank mask at random; `RandomAffine(degrees=(0, 360),
translate=(0.5, 0.5) — (0.1, 0.1) for textures —, scale=(0.1, 2), shear=(10, 10))` in the frame
of the original mask, then horizontal and vertical flips (p = 0.5 each), then resize to the image;
objects keep it only inside the object mask. Accept when it covers 1–5 % of the image (objects)
or 5–10 % (textures), else resample, at most 1000 times.

Parameters are sampled exactly as torchvision's `RandomAffine.get_params` samples them (a 2-tuple
shear is an x-shear range, so `(10, 10)` is always 10°; integer translations), and the geometry is
torchvision's (rotation about the frame centre, pixel-centre conventions of `affine` and `Resize`).
What differs on purpose: every result is binary (nearest sampling instead of a soft resize tested
with `!= 0`), and the work is one `cv2.warpAffine` per try, restricted to the box the defect can
reach, after an exact upper bound on its area (box ∩ object) has ruled out tries that cannot fit.
None of that changes which try is accepted: the first whose full-size area is in range.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace as dataclass_replace
from typing import Callable, Iterator

import cv2
import numpy as np

from dsaii_core.errors import DsaiiError

SOURCES = ("bank", "procedural")
FALLBACKS = ("closest", "none")
SHAPES = ("blob", "crack", "scratch", "spot", "hole")


@dataclass(frozen=True)
class AugmentParams:
    """How a class gets its anomaly masks; the defaults are the reference gen_mask values for objects."""
    source: str = "bank"
    per_image: int = 1
    seed: int = 0
    degrees: tuple[float, float] = (0.0, 360.0)
    translate: tuple[float, float] = (0.5, 0.5)
    scale: tuple[float, float] = (0.1, 2.0)
    shear: tuple[float, ...] = (10.0, 10.0)
    hflip: float = 0.5
    vflip: float = 0.5
    area: tuple[float, float] = (0.01, 0.05)
    retries: int = 1000
    fallback: str = "closest"
    shapes: tuple[str, ...] = SHAPES
    bank_sources: tuple[str, ...] = ()  # only bank masks from these sources (all when empty)

    def __post_init__(self) -> None:
        for name in ("degrees", "translate", "scale", "shear", "area", "shapes", "bank_sources"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        problems = []
        if self.source not in SOURCES:
            problems.append(f"source must be one of {SOURCES}")
        if self.fallback not in FALLBACKS:
            problems.append(f"fallback must be one of {FALLBACKS}")
        if not 1 <= self.per_image <= 100:
            problems.append("masks per image must be 1–100")
        if self.retries < 0:
            problems.append("retries cannot be negative")
        if len(self.shear) not in (2, 4) or any(a > b for a, b in zip(self.shear[::2], self.shear[1::2])):
            problems.append("shear must be (min, max) or (x min, x max, y min, y max)")
        for name in ("degrees", "translate", "scale", "area"):
            low, high = getattr(self, name)
            if low > high:
                problems.append(f"{name}: minimum {low} is above maximum {high}")
        if not 0 < self.area[0] <= self.area[1] <= 1:
            problems.append("area range must lie within 0–1 (fractions of the image), above 0")
        if not all(0 <= t <= 1 for t in self.translate):
            problems.append("translate fractions must lie within 0–1")
        if self.scale[0] <= 0:
            problems.append("scale must be positive")
        if not (0 <= self.hflip <= 1 and 0 <= self.vflip <= 1):
            problems.append("flip probabilities must lie within 0–1")
        if not self.shapes or not set(self.shapes) <= set(SHAPES):
            problems.append(f"shapes must be some of {SHAPES}")
        if problems:
            raise DsaiiError("invalid anomaly-mask parameters: " + "; ".join(problems))

    @classmethod
    def defaults_for(cls, kind: str) -> "AugmentParams":
        """Reference values for a class kind: textures translate 0.1 and accept 5–10 % instead of 1–5 %."""
        if kind == "texture":
            return cls(translate=(0.1, 0.1), area=(0.05, 0.10))
        return cls()

    def replace(self, **changes) -> "AugmentParams":
        return dataclass_replace(self, **changes)

    def as_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict, kind: str = "object") -> "AugmentParams":
        """Parameters saved with `as_dict` (unknown keys ignored) over the defaults for `kind`."""
        known = {f.name for f in fields(cls)}
        return cls.defaults_for(kind).replace(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class BankMask:
    """A decoded bank mask: its cropped pixels (uint8 0/1) and the frame it was cut from."""
    id: int
    crop: np.ndarray
    frame: tuple[int, int]            # (width, height) of the original mask
    offset: tuple[int, int] = (0, 0)  # (left, top) of the crop in that frame


@dataclass(frozen=True)
class AffineDraw:
    """One draw of the reference augmentation, in torchvision's terms."""
    angle: float
    translate: tuple[int, int]
    scale: float
    shear: tuple[float, float]
    hflip: bool
    vflip: bool


@dataclass
class MaskResult:
    """What making one anomaly mask did: the mask (None when nothing fitted and fallback is 'none')."""
    mask: np.ndarray | None
    area: float
    tries: int
    fitted: bool
    detail: dict = field(default_factory=dict)


# -- the reference geometry -------------------------------------------------------------------
def sample_draw(rng: np.random.Generator, params: AugmentParams, frame: tuple[int, int]) -> AffineDraw:
    """Parameters as `RandomAffine.get_params` + two random flips draw them, for a frame (width, height)."""
    angle = float(rng.uniform(*params.degrees))
    max_dx, max_dy = params.translate[0] * frame[0], params.translate[1] * frame[1]
    tx = int(round(float(rng.uniform(-max_dx, max_dx))))
    ty = int(round(float(rng.uniform(-max_dy, max_dy))))
    scale = float(rng.uniform(*params.scale))
    shear_x = float(rng.uniform(params.shear[0], params.shear[1]))
    shear_y = float(rng.uniform(params.shear[2], params.shear[3])) if len(params.shear) == 4 else 0.0
    hflip = bool(rng.random() < params.hflip)
    vflip = bool(rng.random() < params.vflip)
    return AffineDraw(angle, (tx, ty), scale, (shear_x, shear_y), hflip, vflip)


def affine_matrix(draw: AffineDraw, frame: tuple[int, int]) -> np.ndarray:
    """3×3 forward map of torchvision's tensor `affine` + flips, in pixel indices of the frame."""
    rot, sx, sy = math.radians(draw.angle), math.radians(draw.shear[0]), math.radians(draw.shear[1])
    a = math.cos(rot - sy) / math.cos(sy)
    b = -math.cos(rot - sy) * math.tan(sx) / math.cos(sy) - math.sin(rot)
    c = math.sin(rot - sy) / math.cos(sy)
    d = -math.sin(rot - sy) * math.tan(sx) / math.cos(sy) + math.cos(rot)
    linear = draw.scale * np.array([[a, b], [c, d]])
    centre = np.array([(frame[0] - 1) / 2, (frame[1] - 1) / 2])
    matrix = np.eye(3)
    matrix[:2, :2] = linear
    matrix[:2, 2] = centre + np.asarray(draw.translate, float) - linear @ centre
    width, height = frame
    if draw.hflip:
        matrix = np.array([[-1.0, 0, width - 1], [0, 1, 0], [0, 0, 1]]) @ matrix
    if draw.vflip:
        matrix = np.array([[1.0, 0, 0], [0, -1, height - 1], [0, 0, 1]]) @ matrix
    return matrix


def bank_to_image_matrix(draw: AffineDraw, bank: BankMask, shape: tuple[int, int]) -> np.ndarray:
    """2×3 forward map from crop pixels to image pixels: crop offset, augmentation, resize, composed."""
    height, width = shape
    frame_w, frame_h = bank.frame
    # Resize keeps pixel centres aligned the way torchvision's Resize (align_corners=False) does.
    sx, sy = width / frame_w, height / frame_h
    resize = np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5], [0, 0, 1]])
    crop = np.array([[1.0, 0, bank.offset[0]], [0, 1, bank.offset[1]], [0, 0, 1]])
    return (resize @ affine_matrix(draw, bank.frame) @ crop)[:2]


def reach(matrix: np.ndarray, size: tuple[int, int], shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1): the image box a warped (width, height) source can touch, clipped to the image."""
    w, h = size
    corners = np.array([[-0.5, -0.5, 1], [w - 0.5, -0.5, 1], [-0.5, h - 0.5, 1], [w - 0.5, h - 0.5, 1]]).T
    xs, ys = matrix @ corners
    x0, x1 = max(0, math.floor(xs.min()) - 1), min(shape[1], math.ceil(xs.max()) + 2)
    y0, y1 = max(0, math.floor(ys.min()) - 1), min(shape[0], math.ceil(ys.max()) + 2)
    return (y0, max(y0, y1), x0, max(x0, x1))


def warp_roi(source: np.ndarray, matrix: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The part `box` of the nearest-neighbour warp of `source` (0 outside), as one cv2.warpAffine."""
    y0, y1, x0, x1 = box
    shifted = matrix.copy()
    shifted[:, 2] -= (x0, y0)
    return cv2.warpAffine(source, shifted, (x1 - x0, y1 - y0), flags=cv2.INTER_NEAREST,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


# -- the accept rule, shared with procedural masks --------------------------------------------
@dataclass
class Candidate:
    """One try: the image box it can touch, how to render that box (uint8, nonzero = set), its detail."""
    box: tuple[int, int, int, int]
    render: Callable[[], np.ndarray]
    detail: dict


class Region:
    """Where a defect may go: the object mask (or the whole image), with O(1) pixel counts per box."""

    def __init__(self, shape: tuple[int, int], object_mask: np.ndarray | None):
        self.shape = (int(shape[0]), int(shape[1]))
        self.pixels = self.shape[0] * self.shape[1]
        if object_mask is not None and object_mask.shape != self.shape:
            raise DsaiiError(f"object mask is {object_mask.shape[1]}×{object_mask.shape[0]}, "
                             f"image is {self.shape[1]}×{self.shape[0]}")
        self.mask = None if object_mask is None else (np.asarray(object_mask) > 0).astype(np.uint8)
        self._integral = None if self.mask is None else cv2.integral(self.mask, sdepth=cv2.CV_32S)
        self._points: tuple[np.ndarray, np.ndarray] | None = None

    def random_point(self, rng: np.random.Generator) -> tuple[float, float]:
        """(x, y) of a random pixel of the region (the image centre when the object mask is empty)."""
        if self.mask is None:
            return float(rng.uniform(0, self.shape[1])), float(rng.uniform(0, self.shape[0]))
        if self._points is None:
            self._points = np.nonzero(self.mask)
        ys, xs = self._points
        if ys.size == 0:
            return self.shape[1] / 2, self.shape[0] / 2
        pick = int(rng.integers(ys.size))
        return float(xs[pick]), float(ys[pick])

    def count(self, box: tuple[int, int, int, int]) -> int:
        """Object pixels inside a box (all pixels when there is no object mask)."""
        y0, y1, x0, x1 = box
        if self._integral is None:
            return (y1 - y0) * (x1 - x0)
        s = self._integral
        return int(s[y1, x1] - s[y0, x1] - s[y1, x0] + s[y0, x0])

    def clip(self, box: tuple[int, int, int, int], pixels: np.ndarray) -> np.ndarray:
        """Rendered pixels of a box kept only inside the region, as 0/1 uint8."""
        pixels = (pixels > 0).astype(np.uint8)
        if self.mask is None:
            return pixels
        y0, y1, x0, x1 = box
        return cv2.bitwise_and(pixels, self.mask[y0:y1, x0:x1])


def fit_area(candidates: Iterator[Candidate], region: Region, params: AugmentParams) -> MaskResult:
    """The first candidate whose area (inside the region) is in `params.area`, trying 1 + retries of them.

    Exact: a candidate is skipped unrendered only when box ∩ region holds fewer pixels than the
    minimum, so it could not have fitted. With no fit, the try closest to the range is returned
    (fallback 'closest'; skipped tries are rendered only if their bound says they might be closer)
    or no mask (fallback 'none').
    """
    low, high = params.area[0] * region.pixels, params.area[1] * region.pixels
    closest: tuple[float, Candidate, np.ndarray | None] | None = None
    skipped: list[tuple[int, int, Candidate]] = []
    tries = 0
    for tries, candidate in enumerate(candidates, start=1):
        box = candidate.box
        bound = region.count(box) if box[1] > box[0] and box[3] > box[2] else 0
        if bound < low:
            skipped.append((bound, tries, candidate))
        else:
            pixels = region.clip(box, candidate.render())
            count = cv2.countNonZero(pixels)
            if low <= count <= high:
                return MaskResult(_full(region, box, pixels), count / region.pixels, tries, True, candidate.detail)
            distance = max(low - count, count - high)
            if closest is None or distance < closest[0]:
                closest = (distance, candidate, pixels)
        if tries > params.retries:
            break
    if tries == 0:
        raise DsaiiError("no candidate masks to try")
    if params.fallback == "none":
        return MaskResult(None, 0.0, tries, False, (closest[1] if closest else skipped[0][2]).detail)
    for bound, _, candidate in sorted(skipped, key=lambda s: (-s[0], s[1])):
        if closest is not None and low - bound >= closest[0]:
            break  # this and every later skipped try is at least as far from the range
        pixels = region.clip(candidate.box, candidate.render()) if bound > 0 else None
        distance = low - (0 if pixels is None else cv2.countNonZero(pixels))
        if closest is None or distance < closest[0]:
            closest = (distance, candidate, pixels)
    _, candidate, pixels = closest
    mask = np.zeros(region.shape, np.uint8) if pixels is None else _full(region, candidate.box, pixels)
    return MaskResult(mask, float(np.count_nonzero(mask)) / region.pixels, tries, False, candidate.detail)


def _full(region: Region, box: tuple[int, int, int, int], pixels: np.ndarray) -> np.ndarray:
    mask = np.zeros(region.shape, np.uint8)
    y0, y1, x0, x1 = box
    mask[y0:y1, x0:x1] = pixels * np.uint8(255)
    return mask


# -- the bank augmentation --------------------------------------------------------------------
def bank_candidates(bank: list[BankMask], shape: tuple[int, int], params: AugmentParams,
                    rng: np.random.Generator) -> Iterator[Candidate]:
    """Endless tries of the reference augmentation: a random bank mask, a random draw, its warp."""
    while True:
        entry = bank[int(rng.integers(len(bank)))]
        draw = sample_draw(rng, params, entry.frame)
        matrix = bank_to_image_matrix(draw, entry, shape)
        box = reach(matrix, (entry.crop.shape[1], entry.crop.shape[0]), shape)
        detail = {"bank_id": entry.id, "angle": draw.angle, "translate": list(draw.translate),
                  "scale": draw.scale, "shear": list(draw.shear), "hflip": draw.hflip, "vflip": draw.vflip}
        yield Candidate(box, lambda e=entry, m=matrix, b=box: warp_roi(e.crop, m, b), detail)


def augment_mask(bank: list[BankMask], shape: tuple[int, int], params: AugmentParams, rng: np.random.Generator,
                 object_mask: np.ndarray | None = None, texture: bool = False) -> MaskResult:
    """One anomaly mask (H×W uint8 0/255) for an image of `shape` = (height, width) by the reference rule.

    Objects keep the defect inside `object_mask` (None: the whole image); textures ignore it.
    Deterministic for the state of `rng`.
    """
    if not bank:
        raise DsaiiError("the mask bank is empty: import defect masks first (e.g. an MVTec AD ground_truth tree)")
    region = Region(shape, None if texture else object_mask)
    return fit_area(bank_candidates(bank, region.shape, params, rng), region, params)
