"""Exact anomaly-detection metrics: image / pixel AUROC, AUPRO (MVTec AD definition) and F1-max.

Exact means not binned: tied scores count as half, as scikit-learn's `roc_auc_score` does, and the
PRO curve is integrated through every distinct threshold. How it stays fast and small: the scores of
normal pixels are copied once, in the maps' own dtype (no float64 upcast, no int64 argsort index),
into one buffer that numpy sorts in place with SIMD; the far fewer defect pixels are sorted apart.
Every metric is then a `searchsorted` of the defect scores into the sorted normal scores, so the
peak extra memory is about one copy of the normal scores and the work after the sort is O(P log N).

An approximate mode is available only on request (`bins=`): scores are quantised to that many
equal-width bins first, which halves the buffer (uint16 codes) and makes ties of nearby scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import ndimage

# 8-connectivity, as in the official MVTec AD evaluation.
_REGION_STRUCTURE = np.ones((3, 3), dtype=bool)
MAX_BINS = 65536


@dataclass(frozen=True)
class SortedScores:
    """Scores of normal (negative) and defect (positive) samples, each sorted ascending.

    `weights[i]` belongs to `positives[i]`: 1 / (number of regions × size of its region), so that the
    weights of the positives at or above a threshold sum to the mean per-region overlap (PRO).
    """
    negatives: np.ndarray
    positives: np.ndarray
    weights: np.ndarray | None = None

    @property
    def n_neg(self) -> int:
        return int(self.negatives.size)

    @property
    def n_pos(self) -> int:
        return int(self.positives.size)


# -- input checks and collection --------------------------------------------------------------
def _check_scores(scores: np.ndarray, what: str) -> None:
    if scores.dtype.kind not in "biuf":
        raise ValueError(f"{what} must be numbers, not {scores.dtype}")
    if scores.dtype.kind == "f" and not np.isfinite(scores).all():
        raise ValueError(f"{what} contain NaN or infinite values")


def _check_both_classes(n_pos: int, n_neg: int, what: str) -> None:
    if n_pos == 0 or n_neg == 0:
        missing = "defect (positive)" if n_pos == 0 else "normal (negative)"
        raise ValueError(f"{what}: only one class present, no {missing} samples; the metric is undefined")


def sorted_labels_scores(labels: Sequence | np.ndarray, scores: Sequence | np.ndarray) -> SortedScores:
    """Scores of 1-D 0/1 labels split by label and sorted; raises ValueError on bad input."""
    labels, scores = np.asarray(labels), np.asarray(scores)
    if labels.ndim != 1 or scores.ndim != 1 or labels.shape != scores.shape:
        raise ValueError(f"labels and scores must be 1-D of the same length, got {labels.shape} and {scores.shape}")
    if labels.dtype.kind not in "biuf" or not np.isin(labels, (0, 1)).all():
        raise ValueError("labels must be 0 / 1 (or bool)")
    _check_scores(scores, "scores")
    positive = labels.astype(bool)
    pos, neg = np.sort(scores[positive]), np.sort(scores[~positive])
    _check_both_classes(pos.size, neg.size, "labels")
    return SortedScores(neg, pos)


def _as_stack(masks, maps) -> tuple[Sequence, Sequence]:
    if isinstance(maps, np.ndarray) and maps.ndim == 2:
        maps, masks = maps[None], np.asarray(masks)[None]
    if len(masks) != len(maps):
        raise ValueError(f"{len(masks)} masks but {len(maps)} maps")
    if len(maps) == 0:
        raise ValueError("no maps given")
    return masks, maps


def _score_dtype(maps: Sequence) -> np.dtype:
    dtype = maps.dtype if isinstance(maps, np.ndarray) else np.result_type(*(np.asarray(m).dtype for m in maps))
    if dtype.kind not in "biuf":
        raise ValueError(f"maps must be numbers, not {dtype}")
    return np.dtype(np.uint8) if dtype.kind == "b" else dtype


def _quantiser(maps: Sequence, bins: int):
    """A function mapping a map to uint16 bin codes of `bins` equal-width bins over all maps."""
    if not 2 <= bins <= MAX_BINS:
        raise ValueError(f"bins must be in [2, {MAX_BINS}], not {bins}")
    low = min(float(np.min(m)) for m in maps)
    high = max(float(np.max(m)) for m in maps)
    if not np.isfinite([low, high]).all():
        raise ValueError("maps contain NaN or infinite values")
    scale = (bins - 1) / (high - low) if high > low else 0.0

    def codes(score_map: np.ndarray) -> np.ndarray:
        return np.rint((score_map.astype(np.float64) - low) * scale).astype(np.uint16)
    return codes


def sorted_pixel_scores(masks, maps, *, regions: bool = False, bins: int | None = None) -> SortedScores:
    """Pixel scores of all maps split by ground truth and sorted, streaming over the images.

    `masks`: N×H×W array or a sequence of H×W arrays (non-zero = defect); `maps`: the same shapes.
    With `regions`, each positive carries its PRO weight (regions are 8-connected per image).
    """
    masks, maps = _as_stack(masks, maps)
    quantise = _quantiser(maps, bins) if bins is not None else None
    dtype = np.dtype(np.uint16) if quantise else _score_dtype(maps)
    total = sum(int(np.asarray(m).size) for m in maps)
    negatives = np.empty(total, dtype=dtype)
    positives, sizes, counts = [], [], []
    filled = 0
    for index, (mask, score_map) in enumerate(zip(masks, maps)):
        mask, score_map = np.asarray(mask), np.asarray(score_map)
        if mask.shape != score_map.shape or score_map.ndim != 2:
            raise ValueError(f"image {index}: mask {mask.shape} and map {score_map.shape} must be the same H×W")
        _check_scores(score_map, f"map {index}")
        scores = quantise(score_map) if quantise else score_map
        defect = mask > 0
        normal_scores = scores[~defect]
        negatives[filled:filled + normal_scores.size] = normal_scores
        filled += normal_scores.size
        if not defect.any():
            continue
        if regions:
            labelled, n_regions = ndimage.label(defect, structure=_REGION_STRUCTURE)
            region_of = labelled[defect]
            sizes.append(np.bincount(region_of)[1:])
            counts.append(sizes[-1][region_of - 1])
        positives.append(scores[defect].astype(dtype, copy=False))
    negatives = negatives[:filled]
    n_pos = sum(p.size for p in positives)
    _check_both_classes(n_pos, filled, "masks")
    negatives.sort()
    positives = np.concatenate(positives)
    if not regions:
        positives.sort()
        return SortedScores(negatives, positives)
    n_regions = sum(s.size for s in sizes)
    weights = 1.0 / (n_regions * np.concatenate(counts).astype(np.float64))
    order = np.argsort(positives, kind="stable")
    return SortedScores(negatives, positives[order], weights[order])


# -- metrics on sorted scores -----------------------------------------------------------------
def auroc_of(scores: SortedScores) -> float:
    """Area under the ROC curve: P(positive > negative) + ½ P(tie), exactly."""
    below = np.searchsorted(scores.negatives, scores.positives, side="left")
    at_or_below = np.searchsorted(scores.negatives, scores.positives, side="right")
    twice_wins = int(below.sum(dtype=np.int64)) + int(at_or_below.sum(dtype=np.int64))
    return twice_wins / (2 * scores.n_pos * scores.n_neg)


def f1_max_of(scores: SortedScores) -> float:
    """Best F1 over all thresholds `score >= t` (the best t is always a positive's score)."""
    thresholds = np.unique(scores.positives)
    true_pos = scores.n_pos - np.searchsorted(scores.positives, thresholds, side="left")
    false_pos = scores.n_neg - np.searchsorted(scores.negatives, thresholds, side="left")
    return float(np.max(2.0 * true_pos / (true_pos + false_pos + scores.n_pos)))


def aupro_of(scores: SortedScores, fpr_limit: float = 0.3) -> float:
    """Area under the PRO curve up to `fpr_limit`, divided by it (MVTec AD), exactly.

    The curve runs through (FPR, PRO) at every distinct threshold, linearly between them. Each group of
    tied normal scores v widens the FPR by its count and lifts PRO from W(> v) to W(≥ v) (W = sum of
    positive weights), so its trapezoid is count × (W(>v) + W(≥v)) / 2. Summed over the normal pixels
    above the cut, that equals Σ_p w_p (#normals below p + #normals at or below p) / 2, a searchsorted.
    The tie group straddling the cut contributes the part of its trapezoid left of the cut.
    """
    if scores.weights is None:
        raise ValueError("aupro needs region weights: collect with regions=True")
    if not 0.0 < fpr_limit <= 1.0:
        raise ValueError(f"fpr_limit must be in (0, 1], not {fpr_limit}")
    neg, pos, weights, n = scores.negatives, scores.positives, scores.weights, scores.n_neg
    cut = fpr_limit * n                     # the limit in units of normal pixels, counted from the top
    rank = int(np.floor(cut))
    partial = 0.0
    if rank >= n:
        above = n
    else:
        value = neg[n - 1 - rank]           # the normal score at the cut
        start, end = np.searchsorted(neg, value, side="left"), np.searchsorted(neg, value, side="right")
        above, tied = n - int(end), int(end - start)
        w_above = float(weights[pos > value].sum())
        w_at_or_above = float(weights[pos >= value].sum())
        width = cut - above
        partial = width * (2 * w_above + (width / tied) * (w_at_or_above - w_above)) / 2
    first = n - above                       # neg[first:] are the normal scores above the cut's tie group
    below = np.maximum(np.searchsorted(neg, pos, side="left") - first, 0)
    at_or_below = np.maximum(np.searchsorted(neg, pos, side="right") - first, 0)
    area = (float(np.dot(weights, below)) + float(np.dot(weights, at_or_below))) / 2 + partial
    return area / n / fpr_limit


# -- curves for plots -------------------------------------------------------------------------
def _thresholds(scores: SortedScores, points: int | None) -> np.ndarray:
    """Descending thresholds: all distinct scores, or about `points` spread evenly in rank."""
    if points is None:
        values = np.concatenate([scores.negatives, scores.positives])
    else:
        half = max(points // 2, 2)
        values = np.concatenate([scores.negatives[np.linspace(0, scores.n_neg - 1, half).astype(np.int64)],
                                 scores.positives[np.linspace(0, scores.n_pos - 1, half).astype(np.int64)]])
    return np.unique(values)[::-1]


def roc_curve_of(scores: SortedScores, points: int | None = 512) -> tuple[np.ndarray, np.ndarray]:
    """(FPR, TPR) from (0, 0) to (1, 1), at all or about `points` thresholds."""
    thresholds = _thresholds(scores, points)
    fpr = (scores.n_neg - np.searchsorted(scores.negatives, thresholds, side="left")) / scores.n_neg
    tpr = (scores.n_pos - np.searchsorted(scores.positives, thresholds, side="left")) / scores.n_pos
    return np.concatenate([[0.0], fpr]), np.concatenate([[0.0], tpr])


def pro_curve_of(scores: SortedScores, points: int | None = 512) -> tuple[np.ndarray, np.ndarray]:
    """(FPR, PRO) from (0, 0) to (1, 1), at all or about `points` thresholds."""
    if scores.weights is None:
        raise ValueError("the PRO curve needs region weights: collect with regions=True")
    thresholds = _thresholds(scores, points)
    fpr = (scores.n_neg - np.searchsorted(scores.negatives, thresholds, side="left")) / scores.n_neg
    weight_from = np.concatenate([np.cumsum(scores.weights[::-1])[::-1], [0.0]])
    pro = weight_from[np.searchsorted(scores.positives, thresholds, side="left")]
    return np.concatenate([[0.0], fpr]), np.concatenate([[0.0], pro])


# -- the public metrics -----------------------------------------------------------------------
def image_auroc(labels, scores) -> float:
    """Image-level AUROC of 1-D 0/1 labels and scores (ties as half, like sklearn's roc_auc_score)."""
    return auroc_of(sorted_labels_scores(labels, scores))


def f1_max(labels, scores) -> float:
    """Image-level best F1 over all thresholds (the max of sklearn's precision_recall_curve F1)."""
    return f1_max_of(sorted_labels_scores(labels, scores))


def pixel_auroc(masks, maps, *, bins: int | None = None) -> float:
    """AUROC over all pixels of all images; exact unless `bins` asks for the approximate binned mode."""
    return auroc_of(sorted_pixel_scores(masks, maps, bins=bins))


def aupro(masks, maps, fpr_limit: float = 0.3, *, bins: int | None = None) -> float:
    """Area under the per-region-overlap curve up to `fpr_limit`, normalised by it (MVTec AD definition)."""
    return aupro_of(sorted_pixel_scores(masks, maps, regions=True, bins=bins), fpr_limit)


def pixel_f1_max(masks, maps, *, bins: int | None = None) -> float:
    """Best F1 over all pixel thresholds."""
    return f1_max_of(sorted_pixel_scores(masks, maps, bins=bins))


def pixel_metrics(masks, maps, fpr_limit: float = 0.3) -> dict[str, float]:
    """pixel_auroc, aupro and pixel_f1_max from one pass over the maps."""
    scores = sorted_pixel_scores(masks, maps, regions=True)
    return {"pixel_auroc": auroc_of(scores), "aupro": aupro_of(scores, fpr_limit),
            "pixel_f1_max": f1_max_of(scores)}
