"""Object masks: seconds per image (automatic) and per click (prompted), and selection quality.

    .venv/bin/python benchmarks/bench_object_masks.py [--images N] [--points-per-side N] [--compare N]

Timings on the demo images (data/demo) of the weight-free path (saliency + GrabCut candidates and
selection) and of a tiny random SAM (256 px, ~0.1 M parameters) built in code — the real ViT-B is
not available here (no weights can be downloaded, no GPU in this task). Baselines in the same run:
a click with the image embedding cached vs. the first click (embedding computed), and for
selection the reference rule (largest bbox, inverted) vs. object-likeness, as IoU against the
hand-checked hazelnut reference masks (tests/fixtures/object_reference.py).

Working resolution: the weight-free candidates as made before (WORK_SIDE px, 5 GrabCut rounds, no
refinement) and now (CANDIDATE_SIDE px, CANDIDATE_ITERATIONS rounds, outlines refined at full size), on
real photos at the pipeline benchmark's 512² (MVTec AD hazelnut and transistor from ../shared/data when
present, else data/demo; BSData ball screws from data/demo): seconds per image, IoU of the chosen mask
and of each candidate with the one made before, and IoU with the hazelnut reference masks.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dsaii_core import imageio  # noqa: E402
from dsaii_core.demo import DEMO_DIR  # noqa: E402
from dsaii_core.masks import grabcut, select  # noqa: E402
from dsaii_core.masks.sam import AutoParams, SamBackend, SamConfig  # noqa: E402
from dsaii_core.masks.select import Prompt  # noqa: E402
from tests.fixtures.object_reference import hazelnut_reference  # noqa: E402
from tests.fixtures.tiny_sam import tiny_sam_checkpoint  # noqa: E402


def demo_images(name: str, count: int) -> list[np.ndarray]:
    paths = sorted((DEMO_DIR / name / "train" / "good").glob("*"))[:count]
    return [imageio.read_image(p) for p in paths]


def timed(function, *args):
    start = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start


def weight_free(images: dict[str, list[np.ndarray]]) -> None:
    print("\n## Automatic masks without weights (saliency + GrabCut candidates, then selection)")
    print(f"{'class':<12} {'size':>10} {'images':>6} {'s / image':>10}")
    for name, batch in images.items():
        seconds = []
        for image in batch:
            _, spent = timed(lambda im: select.choose([*grabcut.candidates(im), select.frame(im.shape[:2])],
                                                      image=im), image)
            seconds.append(spent)
        height, width = batch[0].shape[:2]
        print(f"{name:<12} {f'{width}×{height}':>10} {len(batch):>6} {statistics.median(seconds):>10.3f}")


def selection_quality(hazelnuts: list[np.ndarray]) -> None:
    print("\n## Selection on the same candidates: IoU with the hazelnut reference masks")
    ours, reference_rule, oracle = [], [], []
    for image in hazelnuts:
        truth = hazelnut_reference(image)
        candidates = [*grabcut.candidates(image), select.frame(image.shape[:2])]
        ours.append(select.iou(select.choose(candidates, image=image).candidate.mask, truth))
        reference_rule.append(select.iou(select.choose(candidates, "largest_bbox").candidate.mask, truth))
        oracle.append(max(select.iou(c.mask, truth) for c in select.with_inverses(candidates)))
    print(f"object-likeness (ours)           mean IoU {np.mean(ours):.3f}  min {np.min(ours):.3f}")
    print(f"largest bbox, inverted (ref.)    mean IoU {np.mean(reference_rule):.3f}  min {np.min(reference_rule):.3f}")
    print(f"best candidate (upper bound)     mean IoU {np.mean(oracle):.3f}")
    print("(the reference rule expects SAM's candidate set, where the largest box is usually the background;"
          " on these candidates it inverts an object mask)")


def tiny_sam(images: list[np.ndarray], points_per_side: int) -> None:
    print(f"\n## Tiny random SAM (256 px encoder, CPU), points_per_side={points_per_side}")
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = tiny_sam_checkpoint(Path(folder) / "sam_tiny.pth")
        backend, load_s = timed(SamBackend.load, SamConfig(checkpoint, "tiny", "cpu"), Path(folder) / "emb")
        print(f"load checkpoint (weights_only)   {load_s:.3f} s")
        params = AutoParams(points_per_side=points_per_side, pred_iou_thresh=0.0, stability_score_thresh=0.0)
        auto = [timed(backend.automatic, image, params)[1] for image in images]
        print(f"automatic masks                  {statistics.median(auto):.3f} s / image  "
              f"({points_per_side ** 2} prompts; random weights give ragged masks, so SAM's RLE "
              "post-processing dominates)")
        first, cached, refine = [], [], []
        for image in images:
            height, width = image.shape[:2]
            click = Prompt(positive=[(width / 2, height / 2)])
            backend.predictor._memory.clear()
            for path in (Path(folder) / "emb").glob("*.npy"):
                path.unlink()
            result, spent = timed(backend.predict, image, click)
            first.append(spent)
            cached.append(timed(backend.predict, image, Prompt(positive=[(width / 3, height / 3)]))[1])
            refine.append(timed(backend.predict, image, Prompt(negative=[(5.0, 5.0)]), result[0].mask)[1])
        print(f"first click (embedding computed) {statistics.median(first):.4f} s")
        print(f"next click (embedding cached)    {statistics.median(cached):.4f} s  "
              f"→ {statistics.median(first) / statistics.median(cached):.1f}× faster than the first")
        print(f"refine a mask (mask_input+click) {statistics.median(refine):.4f} s")


SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "mvtec_ind_knn_ad"
SIDE = 512


def real_photos(count: int) -> dict[str, list[np.ndarray]]:
    """Up to `count` real photos per object class, scaled to SIDE² as in benchmarks/bench_pipeline.py."""
    folders = {name: SHARED / f"{name}_reduced" / "train" / "good" for name in ("hazelnut", "transistor")}
    folders = {name: folder if folder.is_dir() else DEMO_DIR / name / "train" / "good"
               for name, folder in folders.items()}
    folders["ball_screw"] = DEMO_DIR / "ball_screw" / "train" / "good"
    paths = {name: sorted(p for p in folder.iterdir() if imageio.is_image_name(p.name))[:count]
             for name, folder in folders.items()}
    return {name: [cv2.resize(imageio.read_image(p), (SIDE, SIDE), interpolation=cv2.INTER_AREA) for p in found]
            for name, found in paths.items()}


def working_resolution(photos: dict[str, list[np.ndarray]]) -> None:
    before = {"work_side": grabcut.WORK_SIDE, "iterations": 5, "refine": False}
    now = {"work_side": grabcut.CANDIDATE_SIDE, "iterations": grabcut.CANDIDATE_ITERATIONS, "refine": True}
    print(f"\n## Candidates at a working resolution, {SIDE}² photos: before {before}, now {now}")
    print(f"{'class':<11} {'images':>6} {'s/img before':>12} {'now':>6} {'chosen IoU mean':>15} {'min':>5} "
          f"{'same pick':>9} {'candidate IoU':>13} {'ref IoU before':>14} {'now':>5}")
    for name, images in photos.items():
        spent = {"before": [], "now": []}
        chosen_iou, candidate_iou, same, reference = [], [], 0, {"before": [], "now": []}
        for image in images:
            picks = {}
            for label, settings in (("before", before), ("now", now)):
                start = time.process_time()  # CPU time: others share this machine's cores
                candidates = [*grabcut.candidates(image, **settings), select.frame(image.shape[:2])]
                picks[label] = (candidates, select.choose(candidates, image=image))
                spent[label].append(time.process_time() - start)
                if name == "hazelnut":
                    reference[label].append(select.iou(picks[label][1].candidate.mask, hazelnut_reference(image)))
            (old, old_choice), (new, new_choice) = picks["before"], picks["now"]
            chosen_iou.append(select.iou(old_choice.candidate.mask, new_choice.candidate.mask))
            same += (old_choice.candidate.source, old_choice.candidate.inverted) == \
                (new_choice.candidate.source, new_choice.candidate.inverted)
            candidate_iou += [select.iou(a.mask, b.mask) for a, b in zip(old, new) if a.source == b.source]
        ref = (f"{np.mean(reference['before']):>14.3f} {np.mean(reference['now']):>5.3f}"
               if reference["now"] else f"{'-':>14} {'-':>5}")
        print(f"{name:<11} {len(images):>6} {np.mean(spent['before']):>12.3f} {np.mean(spent['now']):>6.3f} "
              f"{np.mean(chosen_iou):>15.3f} {np.min(chosen_iou):>5.2f} {f'{same}/{len(images)}':>9} "
              f"{np.mean(candidate_iou):>13.3f} {ref}")
    print("(s/img: CPU seconds for the candidates and the choice; chosen / candidate IoU: now against before; "
          "ref IoU: chosen mask against the hazelnut reference, mean)")


def grabcut_click(images: list[np.ndarray]) -> None:
    print("\n## One click without weights (GrabCut refining the current mask)")
    seconds = []
    for image in images:
        start_mask = grabcut.grabcut(image)
        seconds.append(timed(grabcut.grabcut, image, None, start_mask, (), [(5.0, 5.0)])[1])
    print(f"GrabCut click                    {statistics.median(seconds):.3f} s / click")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=6, help="Images per demo class.")
    parser.add_argument("--points-per-side", type=int, default=8, help="Tiny SAM automatic grid.")
    parser.add_argument("--compare", type=int, default=16, help="Real photos per class for the working resolution.")
    parser.add_argument("--only-resolution", action="store_true", help="Only the working-resolution comparison.")
    args = parser.parse_args()
    if args.only_resolution:
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
        working_resolution(real_photos(args.compare))
        return
    images = {name: demo_images(name, args.images) for name in ("hazelnut", "transistor", "ball_screw")}
    print("# Object masks benchmark (CPU; no real SAM weights or GPU here, so no ViT-B timing)")
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start (wall-clock timings)")
    weight_free(images)
    working_resolution(real_photos(args.compare))
    selection_quality(demo_images("hazelnut", 16))
    grabcut_click(images["hazelnut"][:3])
    tiny_sam(images["hazelnut"][:3], args.points_per_side)


if __name__ == "__main__":
    main()
