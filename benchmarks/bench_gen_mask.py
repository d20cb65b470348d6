"""Anomaly masks per second: the reference gen_mask.py rule (torchvision, as the script ran it) vs ours.

    .venv/bin/python benchmarks/bench_gen_mask.py                       # 200 object masks of 1024×1024
    .venv/bin/python benchmarks/bench_gen_mask.py --reference-n 20      # time the reference on 20, extrapolate
    .venv/bin/python benchmarks/bench_gen_mask.py --bank /data/mvtec    # a real MVTec AD root as the bank

Both sides get the same folders: `<tmp>/sam/<class>/<i>.png` object masks (255 = background, SAM's
convention; parts cut from the demo's real object images by Otsu's threshold, scaled to 1024×1024 and
turned / mirrored for variety) and an MVTec-style bank (`<category>/ground_truth/<defect>/*.png`;
by default the demo's 16 real MVTec AD masks scaled back to MVTec's 1024×1024 with nearest neighbour).

The reference is `gen_mask()` of DSAII's gen_mask.py re-implemented line for line with torchvision
(`ToTensor → RandomAffine((0, 360), (0.5, 0.5), (0.1, 2), 10) → RandomHorizontalFlip → RandomVerticalFlip`,
`Resize`, `obj_mask[mask == 0] = 0`, both files re-read with cv2.imread on every retry, at most 1000
retries, saved with `ToPILImage`); only its paths are parameters. Ours is what the `gen-masks` command runs
(`read_bank_folder` + `gen_masks_files`): same accept rule (1–5 % of the image, inside the part, ≤ 1000
retries), binary output, bank decoded once, one cv2.warpAffine per try on the box the defect can reach, images
spread over a few threads; it is also timed on one thread. Both sides read the object masks and write PNGs.

The machine is shared, so the two sides are interleaved in blocks of 20 images (ours on a block, then the
reference on it) and both see the same load; torch runs on one thread, which is several times faster than
its default here under load (pass --torch-threads to change it).
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torchvision.transforms as T

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dsaii_core import imageio  # noqa: E402
from dsaii_core.demo import DEMO_DIR  # noqa: E402
from dsaii_core.masks.anomaly import gen_masks_files  # noqa: E402
from dsaii_core.masks.bank import read_bank_folder  # noqa: E402

SIZE = 1024


# -- inputs ------------------------------------------------------------------------------------------
def part_masks() -> list[np.ndarray]:
    """Object (part) masks of the demo's object classes, 1024×1024, 255 = part."""
    parts = []
    for cls in ("hazelnut", "transistor", "ball_screw"):
        for path in sorted((DEMO_DIR / cls / "train" / "good").glob("*"))[:8]:
            gray = cv2.cvtColor(imageio.read_image(path), cv2.COLOR_RGB2GRAY)
            part = cv2.threshold(cv2.GaussianBlur(gray, (0, 0), 2), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)[1]
            if part.mean() > 127:  # a bright background: the part is the dark side
                part = 255 - part
            parts.append(cv2.resize(part, (SIZE, SIZE), interpolation=cv2.INTER_NEAREST))
    return parts


def write_objects(root: Path, count: int, seed: int) -> None:
    """`count` SAM-style background masks (255 = background) in four integer class folders."""
    rng = np.random.default_rng(seed)
    parts = part_masks()
    for index in range(count):
        part = np.rot90(parts[index % len(parts)], int(rng.integers(4)))
        part = part[:, ::-1] if rng.random() < 0.5 else part
        imageio.write_png(root / str(index % 4) / f"{index:03d}.png", np.ascontiguousarray(255 - part))


def write_bank(root: Path) -> None:
    """The demo's MVTec AD ground-truth masks at MVTec's original 1024×1024, in the MVTec layout."""
    for category in ("hazelnut", "transistor"):
        for path in sorted((DEMO_DIR / category / "ground_truth").glob("*/*.png")):
            mask = imageio.read_mask(path)
            big = cv2.resize(mask, (SIZE, SIZE), interpolation=cv2.INTER_NEAREST)
            imageio.write_png(root / category / "ground_truth" / path.parent.name / path.name, big)


# -- the reference, as gen_mask.py ran it --------------------------------------------------------
def reference_gen_mask(aug: T.Compose, masks: list[str], obj_masks: list[Path], src_dir: Path,
                       dst_dir: Path) -> list[int]:
    """The loop of DSAII gen_mask.py's gen_mask(), line for line (its SKIP test never matched: every class is
    an object); returns the retry count of each image."""
    counts = []
    for obj_path in map(str, obj_masks):
        obj_mask = cv2.imread(obj_path, cv2.IMREAD_GRAYSCALE)
        obj_mask = 1 - T.ToTensor()(obj_mask)
        mask = cv2.imread(masks[np.random.randint(0, len(masks))], cv2.IMREAD_GRAYSCALE)
        mask = aug(mask)
        mask = T.Resize((obj_mask.size()[1], obj_mask.size()[2]))(mask)
        obj_mask[mask == 0] = 0
        cnt = 0
        while cnt < 1000 and (torch.sum(obj_mask) < (obj_mask.size()[1] * obj_mask.size()[2]) * 0.01
                              or torch.sum(obj_mask) > (obj_mask.size()[1] * obj_mask.size()[2]) * 0.05):
            obj_mask = cv2.imread(obj_path, cv2.IMREAD_GRAYSCALE)
            obj_mask = 1 - T.ToTensor()(obj_mask)
            mask = cv2.imread(masks[np.random.randint(0, len(masks))], cv2.IMREAD_GRAYSCALE)
            mask = aug(mask)
            mask = T.Resize((obj_mask.size()[1], obj_mask.size()[2]))(mask)
            obj_mask[mask == 0] = 0
            cnt += 1
        obj_mask = T.ToPILImage()(obj_mask)
        out = Path(obj_path.replace(str(src_dir), str(dst_dir)))
        out.parent.mkdir(parents=True, exist_ok=True)
        obj_mask.save(out)
        counts.append(cnt)
    return counts


def reference_setup(bank: Path) -> tuple[T.Compose, list[str]]:
    """What gen_mask() builds before its loop: the transforms and the bank file list."""
    aug = T.Compose([T.ToTensor(),
                     T.RandomAffine(degrees=(0, 360), translate=(0.5, 0.5), scale=(0.1, 2), shear=(10, 10)),
                     T.RandomHorizontalFlip(),
                     T.RandomVerticalFlip()])
    return aug, glob.glob(str(bank) + "/*/ground_truth/*/*.png")


def output_areas(folder: Path) -> np.ndarray:
    return np.array([(imageio.read_mask(p) > 0).mean() for p in sorted(folder.glob("*/*.png"))])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=200, help="object masks (1024×1024)")
    parser.add_argument("--reference-n", type=int, default=None, help="run the reference on only about this many "
                        "(spread over the blocks; its time per mask is extrapolated to --n)")
    parser.add_argument("--bank", type=Path, default=None, help="an MVTec AD root to use as the bank")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--torch-threads", type=int, default=1, help="torch threads for the reference")
    args = parser.parse_args()
    torch.set_num_threads(args.torch_threads)
    block = 20

    scratch = Path(tempfile.mkdtemp(prefix="bench-gen-mask-"))
    try:
        objects, bank_root = scratch / "sam", args.bank or scratch / "mvtec"
        write_objects(objects, args.n, args.seed)
        if args.bank is None:
            write_bank(bank_root)
        files = sorted(objects.glob("*/*.png"))
        blocks = [files[i:i + block] for i in range(0, len(files), block)]
        per_block = len(blocks[0]) if args.reference_n is None else max(1, -(-args.reference_n // len(blocks)))
        print(f"{args.n} object masks of {SIZE}×{SIZE}, bank of {len(reference_setup(bank_root)[1])} masks "
              f"({bank_root}); cv2 threads {cv2.getNumThreads()}, torch threads {torch.get_num_threads()}, "
              f"{os.cpu_count()} CPUs; load average before: {os.getloadavg()[0]:.1f}")

        start = time.perf_counter()
        bank, _ = read_bank_folder(bank_root)
        bank_s = time.perf_counter() - start
        ours_s, ours_one_s, ref_s, ref_done, counts, misses = bank_s, bank_s, 0.0, 0, [], 0
        np.random.seed(args.seed)
        torch.manual_seed(args.seed)
        aug, masks = reference_setup(bank_root)
        for chunk in blocks:
            start = time.perf_counter()
            report = gen_masks_files(chunk, bank, scratch / "ours", seed=args.seed)
            ours_s += time.perf_counter() - start
            misses += len(report.misses)
            start = time.perf_counter()
            gen_masks_files(chunk, bank, scratch / "ours-one-thread", seed=args.seed, workers=1)
            ours_one_s += time.perf_counter() - start
            start = time.perf_counter()
            counts += reference_gen_mask(aug, masks, chunk[:per_block], objects, scratch / "reference")
            ref_s += time.perf_counter() - start
            ref_done += len(chunk[:per_block])
        ours_areas, ref_areas = output_areas(scratch / "ours"), output_areas(scratch / "reference")
        ref_rate = ref_done / ref_s
        note = "" if ref_done == args.n else f" (timed on {ref_done}; {args.n} would take ≈ {args.n / ref_rate:.0f} s)"
        print(f"ours:      {args.n} masks in {ours_s:.2f} s = {args.n / ours_s:.1f} masks/s "
              f"(one thread: {ours_one_s:.2f} s = {args.n / ours_one_s:.1f} masks/s; bank decoding {bank_s:.2f} s "
              f"included); {misses} without a fitting try; areas in 1–5 %: "
              f"{np.mean((ours_areas >= 0.01) & (ours_areas <= 0.05)):.1%}")
        print(f"reference: {ref_done} masks in {ref_s:.2f} s = {ref_rate:.2f} masks/s{note}; "
              f"retries per mask: mean {np.mean(counts):.1f}, max {max(counts)}; outputs (any pixel ≠ 0) "
              f"covering 1–5 %: {np.mean((ref_areas >= 0.01) & (ref_areas <= 0.05)):.1%}")
        print(f"speed-up: {args.n / ours_s / ref_rate:.1f}× ({args.n / ours_one_s / ref_rate:.1f}× on one thread); "
              f"target ≥ 20×; load average after: {os.getloadavg()[0]:.1f}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
