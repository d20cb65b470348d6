"""Map storage of a benchmark run: bytes and metrics of the compact maps against float32 maps at image resolution
(how runs stored them before), and where a run's time goes with one thread, every core, or a process per class.

    .venv/bin/python benchmarks/bench_maps.py                       # demo hazelnut + transistor at 256, 512, 1024 px
    .venv/bin/python benchmarks/bench_maps.py --sizes 512 --data ../shared/data/mvtec_ind_knn_ad \\
        --classes hazelnut_reduced transistor_reduced              # the larger MVTec sample
    .venv/bin/python benchmarks/bench_maps.py --weights wr50.pth   # PatchCore too (any ResNet state dict)

For each image size the classes' real normals and defects are imported at that size, plus `--synthetic`
inpainting-like anomalies per class (a dark blotch in a drawn mask), exported as MVTec AD (seed 0), and each
detector is trained per class and scores the test images. Its maps are then stored both ways:
- before: one float32 .npy per test image at the image's resolution (np.save, as runs wrote them);
- now: map_store.write_class, one compressed .npz per class at the detector's resolution (uint16 codes).
The metrics of the run (image / pixel AUROC, AUPRO, F1-max; on all, real and synthetic anomalies) are computed
from the float32 maps at full precision and from the stored maps read back, and the largest difference is
printed (target ≤ 1e-4), with the bytes ratio (target ≤ 1/8). The time of scoring a class is measured with
torch on one thread, on every core, and with a process per class (one thread each).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dsaii_core.bench import map_store  # noqa: E402
from dsaii_core.bench.dataset import read_mvtec  # noqa: E402
from dsaii_core.bench.detectors import detector_spec, use_every_core  # noqa: E402
from dsaii_core.bench.runs import evaluate  # noqa: E402
from dsaii_core.demo import DEMO_DIR  # noqa: E402
from dsaii_core.export import export_workspace  # noqa: E402
from dsaii_core.workspace import Workspace  # noqa: E402
from tests.fixtures.bench_data import add_mvtec_class, add_synthetic_anomalies  # noqa: E402


def build_export(source: Path, classes: list[str], size: int, synthetic: int, scratch: Path) -> Path:
    ws = Workspace.create(scratch / f"ws-{size}")
    for name in classes:
        cls = add_mvtec_class(ws, source / name, name, size or None)
        add_synthetic_anomalies(ws, cls, synthetic)
    out = scratch / f"mvtec-{size}"
    export_workspace(ws, out, "mvtec", seed=0)
    return out


def npy_bytes(array: np.ndarray) -> int:
    buffer = io.BytesIO()
    np.save(buffer, array.astype(np.float32))
    return len(buffer.getvalue())


def score(args: tuple) -> tuple[str, float, dict]:
    """(class, seconds, predictions) of one class, in whatever process runs it."""
    spec, root, name, threads = args
    if threads:
        torch.set_num_threads(threads)
    split, = read_mvtec(root, [name])
    started = time.perf_counter()
    predictions = spec.build().score_class(split, split.train)
    return name, time.perf_counter() - started, predictions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEMO_DIR, help="an MVTec AD root")
    parser.add_argument("--classes", nargs="+", default=["hazelnut", "transistor"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[256, 512, 1024], help="image sides (0: as they are)")
    parser.add_argument("--synthetic", type=int, default=12, help="synthetic anomalies per class")
    parser.add_argument("--weights", type=Path, help="a ResNet state dict: also run PatchCore")
    parser.add_argument("--backbone", default="wide_resnet50_2")
    parser.add_argument("--no-timing", action="store_true", help="skip the threads / processes comparison")
    args = parser.parse_args()
    specs = [detector_spec("baseline", device="cpu")]
    if args.weights:
        specs.append(detector_spec("patchcore", backbone=args.backbone, weights=args.weights, device="cpu"))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    print(f"{cores} cores; torch {torch.__version__}; data {args.data} {args.classes}; "
          f"+{args.synthetic} synthetic anomalies per class")
    worst_delta, worst_ratio = 0.0, 0.0
    with tempfile.TemporaryDirectory(prefix="bench-maps-") as scratch:
        for size in args.sizes:
            root = build_export(args.data, args.classes, size, args.synthetic, Path(scratch))
            splits = read_mvtec(root)
            for spec in specs:
                use_every_core()
                before = now = 0
                delta = 0.0
                for split in splits:
                    _, _, predictions = score((spec, root, split.name, 0))
                    scores = {k: s for k, (s, _) in predictions.items()}
                    maps = {k: m for k, (_, m) in predictions.items()}
                    before += sum(npy_bytes(m.full()) for m in maps.values())
                    folder = Path(scratch) / f"run-{size}-{spec.name}"
                    stored = map_store.write_class(folder, split.folder.name, maps)
                    now += map_store.class_file(folder, split.folder.name).stat().st_size
                    exact, compact = evaluate(split, scores, maps), evaluate(split, scores, stored)
                    for metric, value in exact.metrics.items():
                        if value is not None:
                            delta = max(delta, abs(value - compact.metrics[metric]))
                    tested = f"{len(split.test)} test images ({sum(s.origin == 'real' for s in split.test)} real, " \
                             f"{sum(s.origin == 'synthetic' for s in split.test)} synthetic)"
                    auroc = {k: exact.metrics.get(f"image_auroc{k}", float("nan")) for k in ("", "@real", "@synthetic")}
                    print(f"  {size or 'own'} px · {spec.name:9} · {split.name:20} {tested}: image AUROC "
                          f"{auroc['']:.4f} (real {auroc['@real']:.4f}, synthetic {auroc['@synthetic']:.4f}), "
                          f"pixel AUROC {exact.metrics['pixel_auroc']:.4f}")
                worst_delta, worst_ratio = max(worst_delta, delta), max(worst_ratio, now / before)
                print(f"{size or 'own'} px · {spec.name}: maps {before / 1e6:.2f} MB float32 at image resolution → "
                      f"{now / 1e6:.3f} MB compact = 1/{before / now:.1f} of the bytes; largest metric difference "
                      f"{delta:.2e} (every metric, all / real / synthetic anomalies)")
        print(f"worst bytes ratio 1/{1 / worst_ratio:.1f} (target ≤ 1/8), worst metric difference {worst_delta:.2e} "
              f"(target ≤ 1e-4)")
        if args.no_timing:
            return
        size = args.sizes[-1]
        root = Path(scratch) / f"mvtec-{size}"
        names = [s.name for s in read_mvtec(root)]
        for spec in specs:
            results = {}
            for label, threads in (("1 thread", 1), (f"{cores} threads (every core)", cores)):
                started = time.perf_counter()
                for name in names:
                    score((spec, root, name, threads))
                results[label] = time.perf_counter() - started
            started = time.perf_counter()
            with ProcessPoolExecutor(max_workers=min(cores, len(names))) as pool:
                list(pool.map(score, [(spec, root, name, 1) for name in names]))
            results[f"{min(cores, len(names))} processes × 1 thread"] = time.perf_counter() - started
            base = results["1 thread"]
            print(f"{spec.name} at {size} px, {len(names)} classes: " + "; ".join(
                f"{label} {seconds:.1f} s ({base / seconds:.2f}×)" for label, seconds in results.items()))


if __name__ == "__main__":
    main()
