"""Speed of each weight-free phase as a ratio of this machine's image I/O floor, measured in one run.

    .venv/bin/python benchmarks/bench_pipeline.py                  # 64 photos of 512² in 4 classes
    .venv/bin/python benchmarks/bench_pipeline.py --per-class 200  # phases long enough for the process pool

The workspace: real demo photos (hazelnut, transistor, ball_screw: objects; magnetic_tile: texture), resized
to 512² (then random crops, turns and mirrors of them where a class has fewer photos), with the demo's real
defects imported for the bank and the transplants. A job moves to a pool of processes only when it would take
over 20 s in one (starting processes costs seconds), so small runs show the same figures for both. The floor is the least any phase must do per image: decode one PNG and encode one PNG,
in a plain single-process loop (imageio.read_image + imageio.encode_png). Each phase runs as the CLI runs
it, on every core (`--workers`), and on one process for comparison; images/s / floor = the ratio.
Targets (issue 15): inpainting ≥ 0.5×, object masks ≥ 0.1×, anomaly masks from the bank ≥ 1×.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_validate import normal_from  # noqa: E402
from dsaii_core import imageio  # noqa: E402
from dsaii_core.demo import DEMO_DIR  # noqa: E402
from dsaii_core.ingest import import_paths  # noqa: E402
from dsaii_core.inpaint.generate import start_inpaint_job  # noqa: E402
from dsaii_core.jobs import LocalExecutor, run_job  # noqa: E402
from dsaii_core.masks.anomaly import class_params  # noqa: E402
from dsaii_core.masks.anomaly_job import generate_with  # noqa: E402
from dsaii_core.masks import object_job  # noqa: E402
from dsaii_core.masks.objects import ObjectMaskParams  # noqa: E402
from dsaii_core.workspace import Workspace  # noqa: E402

CLASSES = {"hazelnut": "object", "transistor": "object", "ball_screw": "object", "magnetic_tile": "texture"}
SIDE = 512


def build(root: Path, per_class: int) -> Workspace:
    """A workspace of `per_class` 512² normal photos per class plus the demo's real defects (for the bank)."""
    ws = Workspace.create(root)
    rng = np.random.default_rng(0)
    for name, kind in CLASSES.items():
        cls = ws.add_class(name, kind)
        photos = [imageio.read_image(p) for p in sorted((DEMO_DIR / name).glob("*/good/*"))
                  if imageio.is_image_name(p.name)]
        for index in range(per_class):  # the photos, then random crops, turns and mirrors of them
            photo = photos[index % len(photos)]
            image = (cv2.resize(photo, (SIDE, SIDE), interpolation=cv2.INTER_AREA) if index < len(photos)
                     else normal_from(photo, rng, (SIDE,)))
            ws.add_image(cls, image)
    report = import_paths(ws, [DEMO_DIR / name for name in CLASSES])  # real defects: the bank and transplants
    assert not report.errors, report.errors
    return ws


def io_floor(ws: Workspace) -> float:
    """Images/s of a plain loop that decodes one normal and encodes one PNG per image."""
    items = ws.catalog.items(role="normal", statuses=("kept",))
    start = time.perf_counter()
    for item in items:
        imageio.encode_png(imageio.read_image(ws.path(item.file)))
    return len(items) / (time.perf_counter() - start)


OBJECT_MASKS, ANOMALY_MASKS, INPAINTING = "object masks (GrabCut / saliency)", "anomaly masks (bank)", \
    "inpainting (weight-free)"
TARGETS = {OBJECT_MASKS: 0.1, ANOMALY_MASKS: 1.0, INPAINTING: 0.5}


def phases(ws: Workspace, workers: int, object_masks: bool) -> dict[str, tuple[int, float]]:
    """(images, seconds) of each weight-free phase, run as the CLI runs it on `workers` processes."""
    executor, out = LocalExecutor(workers), {}
    classes = ws.classes()
    if object_masks:
        objects = [c for c in classes if not c.is_texture]
        params = ObjectMaskParams(method="grabcut")
        start = time.perf_counter()
        reports = object_job.generate_with(ws, objects, params, executor=executor)
        out[OBJECT_MASKS] = sum(r.written for r in reports.values()), time.perf_counter() - start
    start = time.perf_counter()
    reports = generate_with(ws, [(cls, class_params(cls)) for cls in classes], executor)
    out[ANOMALY_MASKS] = sum(r.written for r in reports.values()), time.perf_counter() - start
    start = time.perf_counter()
    job = run_job(ws, start_inpaint_job(ws, classes, "classical", seed=0).id, executor=executor)
    out[INPAINTING] = job.done, time.perf_counter() - start
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-class", type=int, default=16, help="normal photos per class (4 classes)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--no-object-masks", action="store_true", help="skip the (slow) object-mask phase")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        template = build(Path(tmp) / "template", args.per_class)
        template.catalog.close()
        floor = io_floor(Workspace.open(Path(tmp) / "template"))
        count = len(Workspace.open(Path(tmp) / "template").catalog.items(role="normal"))
        print(f"{count} photos of {SIDE}² in 4 classes; I/O floor (decode + encode one PNG, one "
              f"process): {floor:.1f} images/s")
        results = {}
        for workers in sorted({1, args.workers}):
            root = Path(tmp) / f"w{workers}"
            shutil.copytree(Path(tmp) / "template", root)
            results[workers] = phases(Workspace.open(root), workers, not args.no_object_masks)
        print(f"{'phase':<36}" + "".join(f"{f'{w} process(es)':>22}" for w in results) + f"{'target':>10}")
        for phase, target in TARGETS.items():
            if phase not in results[1]:
                continue
            cells = []
            for workers, timings in results.items():
                count, seconds = timings[phase]
                rate = count / seconds
                cells.append(f"{rate:7.1f}/s = {rate / floor:5.2f}×")
            print(f"{phase:<36}" + "".join(f"{c:>22}" for c in cells) + f"{f'≥ {target:g}×':>10}")


if __name__ == "__main__":
    main()
