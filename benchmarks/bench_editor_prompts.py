"""Mask editor click prompts without weights: seconds per answer at 1024², and mask quality vs full-size GrabCut.

    .venv/bin/python benchmarks/bench_editor_prompts.py [--images N]

What the Object masks page does for each click or box in the editor (decode the prompt and the mask it refines,
GrabCut, encode the answer), timed on real pictures at 1024×1024:
- objects: demo hazelnuts (256 px, bicubic-upscaled), one object click at the nut's centre, or a box around it;
  truth: the hand-checked colour reference of tests/fixtures/object_reference.py;
- defects: BSData pitting photos (real 2.7 k × 0.9 k px ball-screw shots, ../shared/data/bsdata), scaled to
  1024 px high and cut 1024 px wide around their largest defect, a box around it; truth: the labelme polygon.
Compared in the same run: the editor's answer (GrabCut on the box and its context at full resolution when small,
else at WORK_SIDE px with the outline refined at full resolution), the same without the refinement, the old
whole-image prompt path at WORK_SIDE (objects.prompt_mask), and GrabCut on the whole image at full size (the
slow baseline the brief asks to compare with). IoU against the truth and against full size.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dsaii_core import imageio  # noqa: E402
from dsaii_core.masks import editor, grabcut  # noqa: E402
from dsaii_core.masks.select import Prompt, iou  # noqa: E402
from tests.fixtures.object_reference import HAZELNUTS, hazelnut_reference  # noqa: E402

SIDE = 1024
BSDATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "bsdata"


def hazelnut_cases(count: int) -> list[tuple[str, np.ndarray, Prompt, np.ndarray]]:
    cases = []
    for path in HAZELNUTS[:count]:
        image = cv2.resize(imageio.read_image(path), (SIDE, SIDE), interpolation=cv2.INTER_CUBIC)
        truth = hazelnut_reference(image)
        ys, xs = np.nonzero(truth)
        margin = 0.04 * SIDE
        cases.append((f"hazelnut {path.stem} click", image, Prompt(positive=[(float(xs.mean()), float(ys.mean()))]),
                      truth))
        cases.append((f"hazelnut {path.stem} box", image,
                      Prompt(box=(xs.min() - margin, ys.min() - margin, xs.max() + margin, ys.max() + margin)),
                      truth))
    return cases


def pitting_cases(count: int) -> list[tuple[str, np.ndarray, Prompt, np.ndarray]]:
    cases = []
    for path in sorted((BSDATA / "images" / "pitting").glob("*.jpg"))[:count]:
        image = imageio.read_image(path)
        truth = imageio.read_mask(BSDATA / "masks" / f"{path.stem}_mask.png") > 0
        scale = SIDE / image.shape[0]
        size = (round(image.shape[1] * scale), SIDE)
        if size[0] < SIDE:
            continue
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
        truth = cv2.resize(truth.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
        labels, _ = ndimage.label(truth)
        largest = labels == 1 + int(np.argmax(np.bincount(labels.ravel())[1:]))
        ys, xs = np.nonzero(largest)
        left = int(np.clip(xs.mean() - SIDE / 2, 0, size[0] - SIDE))
        image, largest = np.ascontiguousarray(image[:, left:left + SIDE]), largest[:, left:left + SIDE]
        ys, xs = np.nonzero(largest)
        margin = max(4.0, 0.15 * max(np.ptp(xs), np.ptp(ys)))
        box = (xs.min() - margin, ys.min() - margin, xs.max() + 1 + margin, ys.max() + 1 + margin)
        cases.append((f"pitting {path.stem[:24]} box", image, Prompt(box=box), largest))
    return cases


def page_answer(image: np.ndarray, prompt: Prompt) -> np.ndarray:
    """What the page does for one prompt: read it (as the browser sends it), answer it, encode the answer."""
    payload = {"id": "1", "positive": [list(p) for p in prompt.positive],
               "negative": [list(p) for p in prompt.negative], "box": list(prompt.box) if prompt.box else None}
    request = editor.read_prompt(payload, image.shape[:2])
    answer = editor.answer_prompt(image, request.prompt, None, request.base)
    editor.encode_mask(answer.mask)
    return answer.mask


def without_refinement(image: np.ndarray, prompt: Prompt) -> np.ndarray:
    refine, grabcut.refine_edges = grabcut.refine_edges, lambda image, mask, scale: mask
    try:
        return editor.answer_prompt(image, prompt).mask
    finally:
        grabcut.refine_edges = refine


def old_prompt_path(image: np.ndarray, prompt: Prompt) -> np.ndarray:
    """objects.prompt_mask without a workspace: whole image at WORK_SIDE, no refinement."""
    init = None
    if prompt.box is None and prompt.positive:
        init = grabcut.grabcut(image, positive=prompt.positive, negative=prompt.negative)
    return grabcut.grabcut(image, box=prompt.box, init_mask=init, positive=prompt.positive, negative=prompt.negative)


def full_size(image: np.ndarray, prompt: Prompt) -> np.ndarray:
    init = None
    if prompt.box is None and prompt.positive:
        init = grabcut.grabcut(image, positive=prompt.positive, negative=prompt.negative, work_side=SIDE)
    return grabcut.grabcut(image, box=prompt.box, init_mask=init, positive=prompt.positive,
                           negative=prompt.negative, work_side=SIDE)


METHODS = {"editor (page, end to end)": page_answer, "editor without refinement": without_refinement,
           f"old path: whole image at {grabcut.WORK_SIDE}": old_prompt_path, "full-size GrabCut": full_size}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=4, help="hazelnuts and pitting photos each")
    args = parser.parse_args()
    cases = hazelnut_cases(args.images) + (pitting_cases(args.images) if BSDATA.is_dir() else [])
    print(f"{len(cases)} prompts at {SIDE}×{SIDE} (CPU, no weights); seconds per prompt, IoU with the truth "
          f"and with full-size GrabCut")
    results: dict[str, dict[str, list]] = {}
    for name, image, prompt, truth in cases:
        full = None
        print(f"\n{name}")
        for method, answer in reversed(METHODS.items()):  # full size first: the others compare with it
            started = time.perf_counter()
            mask = answer(image, prompt)
            seconds = time.perf_counter() - started
            full = mask if full is None else full
            row = results.setdefault(method, {"s": [], "truth": [], "full": [], "kind": []})
            row["s"].append(seconds)
            row["truth"].append(iou(mask, truth))
            row["full"].append(iou(mask, full))
            row["kind"].append(name.split()[0])
            print(f"  {method:<34} {seconds:6.2f} s   IoU truth {iou(mask, truth):.3f}   full size {iou(mask, full):.3f}")
    print(f"\n{'method':<34} {'kind':<9} {'median s':>9} {'max s':>7} {'IoU truth':>10} {'IoU full':>9}")
    for method in METHODS:
        row = results[method]
        for kind in sorted(set(row["kind"])):
            pick = [i for i, k in enumerate(row["kind"]) if k == kind]
            seconds = [row["s"][i] for i in pick]
            print(f"{method:<34} {kind:<9} {statistics.median(seconds):>9.2f} {max(seconds):>7.2f} "
                  f"{np.mean([row['truth'][i] for i in pick]):>10.3f} {np.mean([row['full'][i] for i in pick]):>9.3f}")
    page = results["editor (page, end to end)"]["s"]
    full = results["full-size GrabCut"]["s"]
    print(f"\neditor answer: median {statistics.median(page):.2f} s, max {max(page):.2f} s per prompt "
          f"(budget 1 s); {statistics.median(full) / statistics.median(page):.0f}× faster than full-size GrabCut")


if __name__ == "__main__":
    main()
