"""Validate against export: seconds to lint a seed-sized export vs seconds to write it.

    .venv/bin/python benchmarks/bench_validate.py                          # 78 classes, ~3k images, 256–512 px
    .venv/bin/python benchmarks/bench_validate.py --classes 10 --normals 10 --anomalies 4   # a quick look
    .venv/bin/python benchmarks/bench_validate.py --workspace /tmp/seed-ws                 # build once, reuse
    .venv/bin/python benchmarks/bench_validate.py --workspace /tmp/seed-ws --decode-floor  # + decoding alone

The workspace is synthetic but made of real photos: every normal is a random crop (60–100 % of the side),
turn, mirror and brightness change of a photo from data/demo and ../shared/data (MVTec AD hazelnut and
transistor, BSData ball screws, scikit-image textures), scaled to 256–512 px. Every anomaly is a copy of one
of its class's normals with a defect painted inside a drawn mask of 1–5 % of the image (darkened, noisy,
scratched), accepted, and a child of that normal, as the inpainting job files them; its mask is the
normal's anomaly mask. Both sides run on the same files, one after the other: the DSAII export
(`export_workspace`), then `validate` on it with a process per core, then on one process.

The export copies files byte for byte (and hashes them); validate decodes every image and mask, so decoding
alone (`--decode-floor`) bounds how close to the export it can come.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dsaii_core import imageio  # noqa: E402
from dsaii_core.demo import DEMO_DIR  # noqa: E402
from dsaii_core.export import export_workspace  # noqa: E402
from dsaii_core.validate import validate  # noqa: E402
from dsaii_core.workspace import Workspace  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def source_photos() -> list[np.ndarray]:
    """Real photos to cut normals from (normal images only: no defect photos)."""
    paths = sorted(DEMO_DIR.glob("*/train/good/*"))
    paths += sorted((SHARED / "mvtec_ind_knn_ad").glob("*/train/good/*.png"))
    paths += sorted((SHARED / "bsdata" / "images" / "unannotated").glob("*.jpg"))
    paths += sorted((SHARED / "skimage_cc0").glob("*.png"))
    return [imageio.read_image(p) for p in paths if imageio.is_image_name(p.name)]


def normal_from(photo: np.ndarray, rng: np.random.Generator,
                sides: tuple[int, ...] = (256, 320, 384, 448, 512)) -> np.ndarray:
    """A random crop, turn, mirror and brightness change of a photo, scaled to one of `sides` px."""
    height, width = photo.shape[:2]
    side = int(min(height, width) * rng.uniform(0.6, 1.0))
    top, left = int(rng.integers(0, height - side + 1)), int(rng.integers(0, width - side + 1))
    crop = np.rot90(photo[top:top + side, left:left + side], int(rng.integers(4)))
    crop = crop[:, ::-1] if rng.random() < 0.5 else crop
    size = int(rng.choice(sides))
    out = cv2.resize(np.ascontiguousarray(crop), (size, size), interpolation=cv2.INTER_AREA)
    return np.clip(out.astype(np.float32) * rng.uniform(0.85, 1.15), 0, 255).astype(np.uint8)


def defect_mask(size: int, rng: np.random.Generator) -> np.ndarray:
    """A drawn ellipse or scratch covering 1–5 % of the image."""
    mask = np.zeros((size, size), np.uint8)
    target = rng.uniform(0.01, 0.05) * size * size
    centre = (int(rng.integers(size // 5, 4 * size // 5)), int(rng.integers(size // 5, 4 * size // 5)))
    if rng.random() < 0.5:
        ratio = rng.uniform(1, 3)
        minor = int(np.sqrt(target / (np.pi * ratio)))
        cv2.ellipse(mask, centre, (max(2, int(minor * ratio)), max(2, minor)), float(rng.uniform(0, 180)), 0, 360,
                    255, -1)
    else:
        thickness = max(3, size // 40)
        length = target / thickness
        angle = rng.uniform(0, np.pi)
        dx, dy = np.cos(angle) * length / 2, np.sin(angle) * length / 2
        cv2.line(mask, (int(centre[0] - dx), int(centre[1] - dy)), (int(centre[0] + dx), int(centre[1] + dy)),
                 255, thickness)
    return mask


def paint_defect(normal: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The normal with a darkened, noisy defect inside the mask; every pixel outside it unchanged."""
    inside = mask > 0
    defect = normal.astype(np.float32) * rng.uniform(0.3, 0.6) + rng.normal(0, 18, normal.shape)
    out = normal.copy()
    out[inside] = np.clip(defect[inside], 0, 255).astype(np.uint8)
    return out


def build_workspace(root: Path, classes: int, normals: int, anomalies: int, seed: int) -> Workspace:
    rng = np.random.default_rng(seed)
    photos = source_photos()
    ws = Workspace.create(root)
    started = time.perf_counter()
    for index in range(classes):
        cls = ws.add_class(f"class_{index:02d}", "texture" if index % 5 == 4 else "object")
        items = []
        for _ in range(normals):
            item = ws.add_image(cls, normal_from(photos[int(rng.integers(len(photos)))], rng)).item
            ws.catalog.set_provenance(item.id, license="CC BY-SA 4.0", engine="import",
                                      original_name=f"photo_{item.id}.png")
            items.append(item)
        for parent in rng.choice(len(items), size=min(anomalies, len(items)), replace=False):
            normal = items[int(parent)]
            image = ws.read_image(normal)
            mask = defect_mask(image.shape[0], rng)
            row = ws.add_mask(normal, mask, kind="anomaly", source="drawn")
            anomaly = ws.add_image(cls, paint_defect(image, mask, rng), role="anomaly", status="accepted",
                                   origin="inpaint:bench", parent_id=normal.id, skip_duplicates=False).item
            ws.catalog.set_item_fields(anomaly.id, mask_id=row.id)
        print(f"\rbuilding: {index + 1}/{classes} classes ({time.perf_counter() - started:.0f} s)", end="",
              file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return ws


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--classes", type=int, default=78)
    parser.add_argument("--normals", type=int, default=26, help="normal images per class")
    parser.add_argument("--anomalies", type=int, default=12, help="anomalies (each with a mask) per class")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workspace", type=Path, help="build the workspace here once and reuse it")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each side; the best is reported")
    parser.add_argument("--decode-floor", action="store_true",
                        help="also time decoding every file once in one process (what any pixel check must pay)")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="bench-validate-"))
    try:
        root = args.workspace or scratch / "ws"
        ws = Workspace.open(root) if (root / "dsaii.sqlite").is_file() else \
            build_workspace(root, args.classes, args.normals, args.anomalies, args.seed)
        out = scratch / "export"
        export_s, validate_s, serial_s = [], [], []
        for _ in range(args.repeat):   # interleaved, so both sides see the same load of a shared machine
            started = time.perf_counter()
            report = export_workspace(ws, out, "dsaii")
            export_s.append(time.perf_counter() - started)
            started = time.perf_counter()
            checked = validate(out)
            validate_s.append(time.perf_counter() - started)
            started = time.perf_counter()
            validate(out, workers=1)
            serial_s.append(time.perf_counter() - started)
        images = sum(c["normal"] + c["anomaly"] for c in report.counts.values())
        size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 2**20
        print(f"export: {len(report.counts)} classes, {images} images + {len(report.files) - images - len(report.counts)} "
              f"masks, {size:.0f} MiB")
        print(f"validate: {checked.summary()}")
        for line in checked.lines()[:10]:
            print(f"  {line}")
        cores = os.cpu_count()
        print(f"export               {min(export_s):7.2f} s  ({images / min(export_s):6.0f} images/s)")
        print(f"validate ({cores} procs)  {min(validate_s):7.2f} s  ({images / min(validate_s):6.0f} images/s)  "
              f"= {min(validate_s) / min(export_s):.2f} × the export")
        print(f"validate (1 proc)    {min(serial_s):7.2f} s  ({images / min(serial_s):6.0f} images/s)  "
              f"= {min(serial_s) / min(export_s):.2f} × the export")
        if args.decode_floor:
            started = time.perf_counter()
            for path in sorted(p for p in out.rglob("*.png")):
                imageio.read_image(path.read_bytes(), str(path))
            floor = time.perf_counter() - started
            print(f"decode only (1 proc) {floor:7.2f} s  = {floor / min(export_s):.2f} × the export, "
                  f"{floor / min(serial_s):.0%} of validate on 1 process")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
