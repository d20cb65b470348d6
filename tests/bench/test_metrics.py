"""Metrics against scikit-learn and a slow, obviously-correct AUPRO (the MVTec AD definition, by brute force)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from skimage.measure import label as region_label
from sklearn.metrics import precision_recall_curve, roc_auc_score

from dsaii_core.bench import metrics

TOL = 1e-9


def slow_aupro(masks: np.ndarray, maps: np.ndarray, fpr_limit: float) -> float:
    """PRO at every distinct threshold by counting, then the trapezoid up to the limit (as mvtec_ad_evaluation)."""
    regions = []
    for mask, score_map in zip(masks, maps):
        labelled = region_label(mask > 0, connectivity=2)
        regions += [score_map[labelled == k] for k in range(1, labelled.max() + 1)]
    normal = maps[masks == 0]
    xs, ys = [0.0], [0.0]
    for threshold in np.unique(maps)[::-1]:
        xs.append(np.mean(normal >= threshold))
        ys.append(np.mean([np.mean(r >= threshold) for r in regions]))
    xs.append(1.0)
    ys.append(1.0)
    area = 0.0
    for i in range(1, len(xs)):
        x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
        if x0 >= fpr_limit:
            break
        if x1 > fpr_limit:
            y1 = y0 + (y1 - y0) * (fpr_limit - x0) / (x1 - x0)
            x1 = fpr_limit
        area += (x1 - x0) * (y0 + y1) / 2
    return area / fpr_limit


def sklearn_f1_max(labels, scores) -> float:
    precision, recall, _ = precision_recall_curve(labels, scores)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return float(f1.max())


# -- image level --------------------------------------------------------------------------------
scores_with_ties = st.integers(2, 60).flatmap(lambda n: st.tuples(
    hnp.arrays(np.int8, n, elements=st.integers(0, 1)),
    hnp.arrays(np.float64, n, elements=st.sampled_from([0.0, 0.25, 0.5, 1.0, -3.0, 7.5]) | st.floats(-1e6, 1e6))))


@settings(max_examples=200, deadline=None)
@given(scores_with_ties)
def test_image_metrics_match_sklearn_on_random_and_tied_scores(data):
    labels, scores = data
    if labels.min() == labels.max():
        with pytest.raises(ValueError, match="one class"):
            metrics.image_auroc(labels, scores)
        return
    assert metrics.image_auroc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=TOL)
    assert metrics.f1_max(labels, scores) == pytest.approx(sklearn_f1_max(labels, scores), abs=TOL)


def test_constant_scores_give_half_auroc():
    labels = np.array([0, 1, 0, 1, 1])
    assert metrics.image_auroc(labels, np.full(5, 0.3)) == 0.5
    assert metrics.f1_max(labels, np.full(5, 0.3)) == pytest.approx(sklearn_f1_max(labels, np.full(5, 0.3)))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_scores_are_rejected(bad):
    with pytest.raises(ValueError, match="NaN or infinite"):
        metrics.image_auroc([0, 1, 1], [0.1, bad, 0.3])


def test_bad_labels_and_shapes_are_rejected():
    with pytest.raises(ValueError, match="0 / 1"):
        metrics.image_auroc([0, 2, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="same length"):
        metrics.f1_max([0, 1], [0.1, 0.2, 0.3])


# -- pixel level ------------------------------------------------------------------------------
def random_maps(rng: np.random.Generator, n: int, size: int, levels: int | None, dtype=np.float32):
    masks = np.zeros((n, size, size), np.uint8)
    for mask in masks[: max(1, n - 1)]:          # the last image has no defect
        for _ in range(rng.integers(1, 4)):
            y, x = rng.integers(0, size - 2, 2)
            h, w = rng.integers(1, size // 2, 2)
            mask[y:y + h, x:x + w] = 255
    maps = rng.random((n, size, size)) + 0.3 * (masks > 0)
    if levels:
        maps = np.round(maps * levels) / levels      # many ties, also across normal and defect pixels
    return masks, maps.astype(dtype)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 4), st.sampled_from([None, 3, 17]),
       st.sampled_from([0.3, 0.05, 1.0, 0.001]))
def test_pixel_metrics_match_sklearn_and_slow_aupro(seed, n, levels, fpr_limit):
    masks, maps = random_maps(np.random.default_rng(seed), n, 12, levels)
    flat_labels, flat_scores = (masks > 0).ravel(), maps.ravel()
    assert metrics.pixel_auroc(masks, maps) == pytest.approx(roc_auc_score(flat_labels, flat_scores), abs=TOL)
    assert metrics.pixel_f1_max(masks, maps) == pytest.approx(sklearn_f1_max(flat_labels, flat_scores), abs=TOL)
    assert metrics.aupro(masks, maps, fpr_limit) == pytest.approx(slow_aupro(masks, maps, fpr_limit), abs=TOL)


def test_pixel_metrics_accept_sequences_of_different_sizes_and_dtypes(rng):
    masks_a, maps_a = random_maps(rng, 2, 10, 5, np.float64)
    masks_b, maps_b = random_maps(rng, 2, 14, None, np.float32)
    masks, maps = [*masks_a, *masks_b], [*maps_a, *maps_b]
    labels = np.concatenate([m.ravel() > 0 for m in masks])
    scores = np.concatenate([m.ravel().astype(np.float64) for m in maps])
    assert metrics.pixel_auroc(masks, maps) == pytest.approx(roc_auc_score(labels, scores), abs=TOL)
    together = metrics.pixel_metrics(masks, maps)
    assert together["pixel_auroc"] == metrics.pixel_auroc(masks, maps)
    assert together["aupro"] == metrics.aupro(masks, maps)
    assert together["pixel_f1_max"] == metrics.pixel_f1_max(masks, maps)


def test_float32_maps_are_not_upcast_and_stay_exact(rng):
    masks, maps = random_maps(rng, 3, 16, None, np.float32)
    scores = metrics.sorted_pixel_scores(masks, maps)
    assert scores.negatives.dtype == np.float32
    assert metrics.auroc_of(scores) == pytest.approx(roc_auc_score((masks > 0).ravel(), maps.ravel()), abs=TOL)


def test_constant_maps_and_perfect_maps():
    masks = np.zeros((2, 8, 8), np.uint8)
    masks[0, 2:4, 2:4] = 255
    assert metrics.pixel_auroc(masks, np.ones((2, 8, 8))) == 0.5
    assert metrics.aupro(masks, np.ones((2, 8, 8))) == pytest.approx(slow_aupro(masks, np.ones((2, 8, 8)), 0.3))
    perfect = (masks > 0).astype(np.float32)
    assert metrics.pixel_auroc(masks, perfect) == 1.0
    assert metrics.aupro(masks, perfect) == pytest.approx(1.0)
    assert metrics.pixel_f1_max(masks, perfect) == 1.0


def test_one_class_pixels_and_bad_maps_raise_clear_errors():
    maps = np.random.default_rng(1).random((2, 8, 8))
    with pytest.raises(ValueError, match="no defect"):
        metrics.pixel_auroc(np.zeros((2, 8, 8)), maps)
    with pytest.raises(ValueError, match="no normal"):
        metrics.aupro(np.ones((2, 8, 8)), maps)
    masks = np.zeros((2, 8, 8))
    masks[0, 0, 0] = 1
    bad = maps.copy()
    bad[1, 3, 3] = np.nan
    with pytest.raises(ValueError, match="map 1 contain NaN"):
        metrics.pixel_auroc(masks, bad)
    with pytest.raises(ValueError, match="same H×W"):
        metrics.pixel_auroc([masks[0], masks[1]], [maps[0], maps[1][:4]])
    with pytest.raises(ValueError, match="2 masks but 1 maps"):
        metrics.pixel_auroc(masks, maps[:1])
    with pytest.raises(ValueError, match="fpr_limit"):
        metrics.aupro(masks, maps, fpr_limit=0)


def test_binned_mode_is_only_approximate_and_explicit(rng):
    masks, maps = random_maps(rng, 3, 32, None)
    exact = metrics.pixel_auroc(masks, maps)
    binned = metrics.pixel_auroc(masks, maps, bins=1000)
    assert binned != exact and abs(binned - exact) < 1e-3
    assert abs(metrics.aupro(masks, maps, bins=1000) - metrics.aupro(masks, maps)) < 1e-2
    quantised = np.rint((maps.astype(np.float64) - maps.min()) * 999 / (maps.max() - maps.min()))
    assert binned == pytest.approx(roc_auc_score((masks > 0).ravel(), quantised.ravel()), abs=TOL)


def test_curves_run_from_origin_to_one_and_match_auroc(rng):
    masks, maps = random_maps(rng, 3, 16, 9)
    scores = metrics.sorted_pixel_scores(masks, maps, regions=True)
    fpr, tpr = metrics.roc_curve_of(scores, points=None)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert np.trapezoid(tpr, fpr) == pytest.approx(metrics.auroc_of(scores), abs=TOL)
    pro_fpr, pro = metrics.pro_curve_of(scores, points=None)
    assert np.all(np.diff(pro_fpr) >= 0) and np.all(np.diff(pro) >= -1e-12) and pro[-1] == pytest.approx(1.0)
    assert np.trapezoid(pro, pro_fpr) == pytest.approx(metrics.aupro_of(scores, 1.0), abs=TOL)
    few_fpr, few_tpr = metrics.roc_curve_of(scores, points=20)
    assert len(few_fpr) <= 22 and few_fpr[-1] == 1.0
