"""Object-mask candidates and prompts, and choosing among candidates: object-likeness, confidence, the reference rule.

The reference kept the candidate with the largest bounding box and inverted it (that candidate
is usually the background). Here every candidate, and the inverse of every candidate that looks
like background, is scored by how an object in an inspection photo looks: it covers the centre of
the frame, touches little of the border, is neither tiny nor everything, is in one piece and
(for SAM) has a high predicted IoU and stability. The confidence says how clearly the winner beats
the best different alternative, so the page shows doubtful masks first.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import cv2
import numpy as np

RULES = ("objectness", "largest_bbox")
DOUBTFUL_BELOW = 0.5
# The whole frame is the object when nothing in the image stands out from its border (a part
# photographed close up, like a ball screw): plausible, but never a confident choice.
FRAME_SCORE = 0.4


@dataclass(frozen=True)
class Candidate:
    """One proposed object mask (H×W bool) with what produced it."""
    mask: np.ndarray
    source: str
    predicted_iou: float | None = None
    stability: float | None = None
    point: tuple[float, float] | None = None  # the prompt point that produced it, in pixels
    inverted: bool = False

    def inverse(self) -> "Candidate":
        return replace(self, mask=~self.mask, inverted=not self.inverted)

    @property
    def area(self) -> int:
        return int(self.mask.sum())

    def bbox(self) -> tuple[int, int, int, int]:
        """x, y, width, height of the mask (zeros when empty), as SAM's metadata writes it."""
        rows, cols = np.nonzero(self.mask)
        if rows.size == 0:
            return 0, 0, 0, 0
        return int(cols.min()), int(rows.min()), int(cols.max() - cols.min() + 1), int(rows.max() - rows.min() + 1)


@dataclass
class Prompt:
    """Clicks and a box in image pixels: positive points are on the object, negative ones off it."""
    positive: list[tuple[float, float]] = field(default_factory=list)
    negative: list[tuple[float, float]] = field(default_factory=list)
    box: tuple[float, float, float, float] | None = None  # x0, y0, x1, y1

    @property
    def empty(self) -> bool:
        return not self.positive and not self.negative and self.box is None


@dataclass(frozen=True)
class Choice:
    """The chosen candidate, its index in the candidate list, its score and the confidence of the choice."""
    candidate: Candidate
    index: int
    score: float
    confidence: float
    rule: str

    @property
    def doubtful(self) -> bool:
        return self.confidence < DOUBTFUL_BELOW


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two masks (1.0 when both are empty)."""
    a, b = a > 0, b > 0
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def _small(mask: np.ndarray, side: int = 128) -> np.ndarray:
    """The mask at most `side` px on its long side (features need no more, and stay fast)."""
    height, width = mask.shape
    scale = side / max(height, width)
    if scale >= 1:
        return mask
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_AREA) > 0


def features(mask: np.ndarray) -> dict[str, float]:
    """Shape cues of a mask in 0..1: area, border contact, centre cover, centredness, largest-piece share."""
    small = _small(mask)
    height, width = small.shape
    area = float(small.mean())
    border = np.concatenate([small[0], small[-1], small[1:-1, 0], small[1:-1, -1]])
    centre = small[int(height * 0.35):max(int(height * 0.65), int(height * 0.35) + 1),
                   int(width * 0.35):max(int(width * 0.65), int(width * 0.35) + 1)]
    if area == 0:
        return {"area": 0.0, "border": 0.0, "centre": 0.0, "centredness": 0.0, "solid": 0.0}
    rows, cols = np.nonzero(small)
    offset = np.hypot((rows.mean() + 0.5) / height - 0.5, (cols.mean() + 0.5) / width - 0.5) / np.hypot(0.5, 0.5)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(small.astype(np.uint8), connectivity=8)
    largest = stats[1:, cv2.CC_STAT_AREA].max() / max(1, stats[1:, cv2.CC_STAT_AREA].sum())
    return {"area": area, "border": float(border.mean()), "centre": float(centre.mean()),
            "centredness": float(1 - offset), "solid": float(largest)}


def frame(shape: tuple[int, int]) -> Candidate:
    """The whole image as a candidate (the object fills the frame)."""
    return Candidate(mask=np.ones(shape, bool), source="frame")


def colour_contrast(image: np.ndarray, mask: np.ndarray) -> float:
    """0..1: how different the colours inside the mask are from those outside (1 − Bhattacharyya coefficient of Lab histograms)."""
    height, width = mask.shape
    scale = min(1.0, 128 / max(height, width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    inside = cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
    if inside.all() or not inside.any():
        return 0.0
    lab = (cv2.cvtColor(small, cv2.COLOR_RGB2LAB) // 32).astype(np.int64)
    bins = lab[..., 0] * 64 + lab[..., 1] * 8 + lab[..., 2]
    a = np.bincount(bins[inside], minlength=512) / inside.sum()
    b = np.bincount(bins[~inside], minlength=512) / (~inside).sum()
    return float(max(0.0, 1 - np.sqrt(a * b).sum()))


def objectness(candidate: Candidate, contrast: float | None = None) -> float:
    """How much a candidate looks like the object of an inspection photo, 0..1.

    `contrast` (colour_contrast with the image) weighs in when given.
    """
    if candidate.source == "frame":
        return FRAME_SCORE
    f = features(candidate.mask)
    if f["area"] < 0.005 or f["area"] > 0.995:
        return 0.0
    # Objects fill the middle; a background touches the border all round. An object may touch
    # parts of the border (a ball screw spans the frame), so border contact costs but never vetoes.
    size = min(1.0, f["area"] / 0.05) * min(1.0, (1 - f["area"]) / 0.03)
    shape = 0.35 * f["centre"] + 0.2 * f["centredness"] + 0.25 * (1 - f["border"]) + 0.2 * f["solid"]
    quality = (candidate.predicted_iou if candidate.predicted_iou is not None else 0.9) * \
        (candidate.stability if candidate.stability is not None else 0.9)
    colour = 1.0 if contrast is None else 0.3 + 0.7 * contrast
    return float(size * shape * (0.6 + 0.4 * quality) * colour)


def with_inverses(candidates: list[Candidate]) -> list[Candidate]:
    """The candidates plus the inverse of each one that touches most of the border (a background)."""
    extra = [c.inverse() for c in candidates
             if not c.inverted and c.source != "frame" and features(c.mask)["border"] > 0.5]
    return [*candidates, *extra]


def score_all(pool: list[Candidate], image: np.ndarray | None = None) -> list[float]:
    """objectness of each candidate, with colour contrast when the image is given."""
    return [objectness(c, None if image is None or c.source == "frame" else colour_contrast(image, c.mask))
            for c in pool]


def choose(candidates: list[Candidate], rule: str = "objectness", image: np.ndarray | None = None) -> Choice | None:
    """The object mask among candidates by `rule` ('objectness' or the reference's 'largest_bbox'); None if none.

    With the image, colour contrast between mask and surroundings counts too. `index` refers to
    the candidate list given; with objectness an inverse of candidate k has index k and
    `candidate.inverted` set.
    """
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}")
    if not candidates:
        return None
    if rule == "largest_bbox":
        boxes = [c.bbox()[2] * c.bbox()[3] if c.source != "frame" else -1 for c in candidates]
        index = int(np.argmax(boxes))
        chosen = candidates[index].inverse()
        pool = [chosen, *candidates]
        scores = score_all(pool, image)
        return Choice(chosen, index, scores[0], confidence(chosen, pool, scores), rule)
    pool = with_inverses(candidates)
    scores = score_all(pool, image)
    best = int(np.argmax(scores))
    chosen = pool[best]
    index = best if best < len(candidates) else next(
        k for k, c in enumerate(candidates) if np.array_equal(c.mask, ~chosen.mask))
    return Choice(chosen, index, scores[best], confidence(chosen, pool, scores), rule)


def confidence(chosen: Candidate, pool: list[Candidate], scores: list[float]) -> float:
    """0..1: the chosen mask's score, lowered when a clearly different candidate scores nearly as well."""
    own = next(s for c, s in zip(pool, scores) if c is chosen)
    rivals = [s for c, s in zip(pool, scores) if c is not chosen and iou(c.mask, chosen.mask) < 0.7]
    margin = own - max(rivals, default=0.0)
    return float(np.clip(own * (0.5 + margin) * 1.4, 0.0, 1.0))
