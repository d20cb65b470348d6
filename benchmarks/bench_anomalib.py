"""anomalib's detectors against ours, in one run: PatchCore parity, and our metrics on anomalib's own predictions.

    .venv/bin/python benchmarks/bench_anomalib.py                        # demo hazelnut + transistor, random resnet18
    .venv/bin/python benchmarks/bench_anomalib.py --data ../shared/data/mvtec_ind_knn_ad \\
        --classes hazelnut_reduced transistor_reduced --synthetic 40    # the larger MVTec sample
    .venv/bin/python benchmarks/bench_anomalib.py --backbone wide_resnet50_2 --weights wr50.pth   # real weights

Each class's real normals and defects are imported with `--synthetic` inpainting-like anomalies (a dark blotch in a
drawn mask), exported as MVTec AD (seed 0); without --weights, a backbone with random weights (seeded) is saved
to a file, which both sides load.

1. Parity: the built-in PatchCore and anomalib's Patchcore with the same weights file, layers 2 and 3, image size
   and coreset ratio, trained on the same train normals, score the same test images. Printed per class: the image
   (and pixel) AUROC of each, the difference, the share of (anomaly, normal) pairs the two order differently, the
   Spearman correlation of their image scores, and the AUROC's standard error on that test set (Hanley & McNeil).
   Tolerance: |Δ image AUROC| ≤ 0.02. Why: the two differ by design in the coreset draw (other projection, other
   first centre), the 3×3 average at the border (ours leaves the padding out, anomalib counts it), the resize
   (OpenCV area vs torchvision antialiased bilinear) and the image score (ours: the maximum of the blurred map;
   anomalib's: the nearest-patch distance re-weighted by its neighbours), so scores move a little and only pairs
   with close scores can swap. 0.02 is 2 % of the pairs, and below the AUROC's own standard error on test sets
   of this size: the two implementations differ less than two draws of the test set would.
2. Metrics: for each model (Patchcore, Padim, Supersimplenet by default) dsaii_core.bench.metrics on anomalib's
   predictions (pred_score / gt_label, anomaly_map / gt_mask at the model's size) against anomalib's own AUROC and
   F1Max metrics on the same batches (target: equal within 1e-6). anomalib's metrics are torchmetrics', which take
   scores outside [0, 1] for logits and apply a sigmoid, which in float32 ties every score above ~17 at 1.0 (Padim's
   Mahalanobis distances: its raw image AUROC 0.89 against 0.98 here); anomalib's own pipeline normalises first, so
   its metrics get the scores and maps min-max scaled over the test set, a monotone map that changes no AUROC or
   F1-max. Runs use the raw scores with our exact metrics, which no such tie affects.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torchvision
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dsaii_core.bench import metrics  # noqa: E402
from dsaii_core.bench.dataset import read_mvtec  # noqa: E402
from dsaii_core.bench.detectors import detector_spec, use_every_core  # noqa: E402
from dsaii_core.demo import DEMO_DIR  # noqa: E402
from benchmarks.bench_maps import build_export  # noqa: E402
from tests.fixtures.bench_data import unit_scaled  # noqa: E402

TOLERANCE = 0.02


def hanley_mcneil_se(auc: float, n_pos: int, n_neg: int) -> float:
    q1, q2 = auc / (2 - auc), 2 * auc ** 2 / (1 + auc)
    variance = (auc * (1 - auc) + (n_pos - 1) * (q1 - auc ** 2) + (n_neg - 1) * (q2 - auc ** 2)) / (n_pos * n_neg)
    return math.sqrt(max(variance, 0.0))


def swapped_pairs(labels: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """Share of (anomaly, normal) pairs ordered one way by scores a and the other (or tied) by b."""
    pos, neg = labels == 1, labels == 0
    order_a = np.sign(a[pos][:, None] - a[neg][None])
    order_b = np.sign(b[pos][:, None] - b[neg][None])
    return float(np.mean(order_a != order_b))


def parity(split, weights: Path, backbone: str, image_size: int, coreset: float) -> bool:
    labels = np.array([s.label for s in split.test])
    scores, pixel, seconds = {}, {}, {}
    for name in ("patchcore", "anomalib:Patchcore"):
        spec = detector_spec(name, backbone=backbone, weights=weights, layers="layer2,layer3", image_size=image_size,
                             coreset_ratio=coreset, device="cpu")
        started = time.perf_counter()
        predictions = spec.build().score_class(split, split.train)
        seconds[name] = time.perf_counter() - started
        scores[name] = np.array([predictions[s.key][0] for s in split.test])
        maps = [predictions[s.key][1].full() for s in split.test]
        pixel[name] = metrics.pixel_auroc([s.read_mask(m.shape) for s, m in zip(split.test, maps)], maps)
    ours, theirs = (metrics.image_auroc(labels, scores[n]) for n in ("patchcore", "anomalib:Patchcore"))
    n_pos, n_neg = int(labels.sum()), int((labels == 0).sum())
    delta = ours - theirs
    print(f"  {split.name}: {n_pos} anomalies × {n_neg} normals = {n_pos * n_neg} pairs; image AUROC built-in "
          f"{ours:.4f} ({seconds['patchcore']:.0f} s), anomalib {theirs:.4f} ({seconds['anomalib:Patchcore']:.0f} s): "
          f"Δ {delta:+.4f} (tolerance ±{TOLERANCE}; standard error {hanley_mcneil_se(ours, n_pos, n_neg):.4f}); "
          f"{swapped_pairs(labels, scores['patchcore'], scores['anomalib:Patchcore']):.1%} of pairs ordered "
          f"differently; Spearman {spearmanr(scores['patchcore'], scores['anomalib:Patchcore']).correlation:.3f}; "
          f"pixel AUROC {pixel['patchcore']:.4f} vs {pixel['anomalib:Patchcore']:.4f}")
    return abs(delta) <= TOLERANCE


def metrics_agree(split, model: str, weights: Path, backbone: str, image_size: int) -> float:
    from anomalib.metrics import AUROC, F1Max
    detector = detector_spec(f"anomalib:{model}", backbone=backbone, weights=weights, image_size=image_size, epochs=1,
                             device="cpu").build()
    batches = detector.train_and_predict(split, split.train)
    side = batches[0].anomaly_map.shape[-1]
    scores = torch.cat([b.pred_score.reshape(-1) for b in batches]).numpy()
    labels = torch.cat([b.gt_label.reshape(-1) for b in batches]).numpy().astype(int)
    maps = torch.cat([b.anomaly_map.reshape(-1, side, side) for b in batches]).numpy()
    masks = torch.cat([b.gt_mask.reshape(-1, side, side) for b in batches]).numpy()
    ours = {"image AUROC": metrics.image_auroc(labels, scores), "image F1-max": metrics.f1_max(labels, scores),
            "pixel AUROC": metrics.pixel_auroc(masks, maps)}
    theirs = {"image AUROC": AUROC(fields=["pred_score", "gt_label"]),
              "image F1-max": F1Max(fields=["pred_score", "gt_label"]),
              "pixel AUROC": AUROC(fields=["anomaly_map", "gt_mask"])}
    for batch in unit_scaled(batches):
        for metric in theirs.values():
            metric.update(batch)
    worst = max(abs(ours[k] - float(m.compute())) for k, m in theirs.items())
    print(f"  {split.name} · {model}: " + ", ".join(f"{k} ours {ours[k]:.6f} anomalib {float(theirs[k].compute()):.6f}"
                                                   for k in theirs) + f"; largest difference {worst:.1e}")
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEMO_DIR, help="an MVTec AD root")
    parser.add_argument("--classes", nargs="+", default=["hazelnut", "transistor"])
    parser.add_argument("--synthetic", type=int, default=24, help="synthetic anomalies per class")
    parser.add_argument("--size", type=int, default=0, help="resize the imported images to size² (0: keep)")
    parser.add_argument("--backbone", default="resnet18")
    parser.add_argument("--weights", type=Path, help="the backbone's state dict (default: random, seeded)")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--coreset-ratio", type=float, default=0.1)
    parser.add_argument("--models", nargs="+", default=["Patchcore", "Padim", "Supersimplenet"])
    args = parser.parse_args()
    use_every_core()
    with tempfile.TemporaryDirectory(prefix="bench-anomalib-") as scratch:
        weights = args.weights
        if weights is None:
            torch.manual_seed(0)
            weights = Path(scratch) / f"{args.backbone}-random.pth"
            torch.save(torchvision.models.get_model(args.backbone, weights=None).state_dict(), weights)
        root = build_export(args.data, args.classes, args.size, args.synthetic, Path(scratch))
        splits = read_mvtec(root)
        print(f"1. PatchCore parity: {args.backbone} ({'random weights' if args.weights is None else weights}), "
              f"layers 2+3, {args.image_size} px, coreset {args.coreset_ratio}")
        within = [parity(split, weights, args.backbone, args.image_size, args.coreset_ratio) for split in splits]
        print(f"   {sum(within)} of {len(within)} classes within ±{TOLERANCE}")
        print("2. dsaii_core.bench.metrics on anomalib's predictions against anomalib's own metrics")
        worst = max(metrics_agree(split, model, weights, args.backbone, args.image_size)
                    for split in splits for model in args.models)
        print(f"   largest difference {worst:.1e} (target ≤ 1e-6)")


if __name__ == "__main__":
    main()
