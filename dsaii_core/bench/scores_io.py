"""Any detector's output on disk: a folder of anomaly maps plus optional image scores.

    MAPS_DIR/<class>/<defect>/<stem>.npy      (or .tiff / .tif / .png; or <class>/<defect>_<stem>.npy, or
    MAPS_DIR/<class>/<stem>.npy when the stem is unique in the class's test set)
    MAPS_DIR/scores.csv                       optional: class,image,score  (image = "<defect>/<stem>" or the
                                              forms above without the suffix); without it, score = max of the map

`<class>` is the class name or its folder in the MVTec export; `<defect>/<stem>` names the test image
`<class>/test/<defect>/<stem>.png` of that export. Maps are 2-D float arrays at any resolution with the
image's aspect ratio (ground truth is resized to the map). .npy and .tiff keep float scores exactly; a PNG
map is read as 8-bit grey (coarse, many ties), so prefer .npy. A stored run's folder (compact maps, see
map_store, with its scores.csv) can be imported as it is.

anomalib's models run directly (`bench run WS --detector anomalib:Patchcore --weights wr50.pth`, see
anomalib_detector.py). For other code, or anomalib runs made elsewhere:

Recipe: benchmark anomalib or the PatchCore reference code on a DSAII Studio dataset
1. Export the dataset: `python -m dsaii_core export WS OUT --layout mvtec --seed 0`.
2. Train / test your model on OUT (e.g. anomalib's `MVTecAD(root=OUT, category=<class>)` or `Folder`
   datamodule, or PatchCore's `run_patchcore.py ... mvtec OUT`).
3. For every test image, save its map and score, e.g. with anomalib's predictions:
       for batch in engine.predict(model=model, datamodule=datamodule):
           for path, amap, score in zip(batch.image_path, batch.anomaly_map, batch.pred_score):
               p = Path(path)            # OUT/<class>/test/<defect>/<stem>.png
               out = MAPS_DIR / p.parents[2].name / p.parent.name / f"{p.stem}.npy"
               out.parent.mkdir(parents=True, exist_ok=True)
               np.save(out, amap.squeeze().cpu().numpy().astype(np.float32))
               rows.append((p.parents[2].name, f"{p.parent.name}/{p.stem}", float(score)))
   (PatchCore's reference code: the `segmentations` and `scores` lists returned by `PatchCore.predict`
   follow the dataloader's image order, `dataloader.dataset.data_to_iterate` gives the paths.)
   Write `rows` to MAPS_DIR/scores.csv with the header `class,image,score`.
4. `python -m dsaii_core bench import WS MAPS_DIR --name my-model --seed 0` (the same seed as the export).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from dsaii_core import imageio
from dsaii_core.atomic import atomic_write_text
from dsaii_core.bench.dataset import ClassSplit
from dsaii_core.errors import DsaiiError

MAP_SUFFIXES = (".npy", ".tiff", ".tif", ".png")
SCORES_CSV = "scores.csv"
ASPECT_TOLERANCE = 0.05


def write_scores(root: Path, rows: list[tuple[str, str, float]]) -> None:
    """scores.csv with one (class, image key, score) row per test image."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["class", "image", "score"])
    writer.writerows((c, k, repr(float(s))) for c, k, s in rows)
    atomic_write_text(Path(root) / SCORES_CSV, text.getvalue())


def read_scores(path: Path) -> dict[tuple[str, str], float]:
    """(class, image) -> score from a scores.csv; DsaiiError names the bad line."""
    scores: dict[tuple[str, str], float] = {}
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not {"class", "image", "score"} <= {f.strip() for f in reader.fieldnames}:
            raise DsaiiError(f"{path}: needs the header class,image,score")
        for line, row in enumerate(reader, start=2):
            row = {k.strip(): (v or "").strip() for k, v in row.items() if k}
            try:
                score = float(row["score"])
            except ValueError:
                raise DsaiiError(f"{path}, line {line}: score '{row['score']}' is not a number") from None
            if not np.isfinite(score):
                raise DsaiiError(f"{path}, line {line}: score is {row['score']}, not a finite number")
            image = row["image"].replace("\\", "/")
            image = image.rsplit(".", 1)[0] if image.lower().endswith(MAP_SUFFIXES + imageio.IMAGE_SUFFIXES) else image
            scores[(row["class"], image)] = score
    return scores


def read_map(path: Path) -> np.ndarray:
    """A 2-D float map from .npy / .tiff / .png; DsaiiError for other shapes, NaN / inf or unreadable files."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            array = np.load(path, mmap_mode="r", allow_pickle=False)
        elif suffix in (".tif", ".tiff"):
            import tifffile
            with tifffile.TiffFile(path) as tiff:
                shape = tiff.series[0].shape
                if int(np.prod(shape)) > imageio.max_pixels():
                    raise DsaiiError(f"{path}: {shape} is over the pixel limit")
                array = tiff.asarray()
        else:
            array = imageio.read_gray(path)
    except DsaiiError:
        raise
    except Exception as exc:   # noqa: BLE001 - whatever the file is, it is not a map we can read
        raise DsaiiError(f"{path}: cannot read the map ({exc.__class__.__name__}: {exc})") from exc
    array = np.squeeze(array)
    if array.ndim != 2 or array.dtype.kind not in "biuf":
        raise DsaiiError(f"{path}: a map must be a 2-D array of numbers, got shape {array.shape} ({array.dtype})")
    if int(array.size) > imageio.max_pixels():
        raise DsaiiError(f"{path}: {array.shape} is over the pixel limit")
    array = np.asarray(array, dtype=np.float64 if array.dtype == np.float64 else np.float32)
    if not np.isfinite(array).all():
        raise DsaiiError(f"{path}: the map contains NaN or infinite values")
    return array


def _candidates(class_dir: Path, key: str, unique_stem: bool) -> list[Path]:
    defect, stem = key.split("/", 1)
    names = [f"{defect}/{stem}", f"{defect}_{stem}"] + ([stem] if unique_stem else [])
    return [class_dir / f"{name}{suffix}" for name in names for suffix in MAP_SUFFIXES]


def _class_dir(root: Path, split: ClassSplit) -> Path | None:
    for name in (split.name, split.folder.name):
        if (root / name).is_dir():
            return root / name
    return None


def check_aspect(path: Path, map_shape: tuple[int, int], image_shape: tuple[int, int]) -> None:
    """DsaiiError when a map cannot cover its image (different aspect ratio)."""
    map_ratio, image_ratio = map_shape[1] / map_shape[0], image_shape[1] / image_shape[0]
    if abs(map_ratio / image_ratio - 1) > ASPECT_TOLERANCE:
        raise DsaiiError(f"{path}: map is {map_shape[1]}×{map_shape[0]} but its image is "
                         f"{image_shape[1]}×{image_shape[0]}; a map must cover the whole image")


def locate_maps(root: Path, split: ClassSplit) -> dict[str, Path]:
    """key -> map file for every test image of the class; DsaiiError listing what is missing."""
    class_dir = _class_dir(Path(root), split)
    if class_dir is None:
        names = " or ".join(f"'{n}'" for n in dict.fromkeys((split.name, split.folder.name)))
        raise DsaiiError(f"{root}: no folder {names} with maps")
    stems = [t.key.split("/", 1)[1] for t in split.test]
    found, missing = {}, []
    for sample in split.test:
        unique = stems.count(sample.key.split("/", 1)[1]) == 1
        path = next((p for p in _candidates(class_dir, sample.key, unique) if p.is_file()), None)
        if path is None:
            missing.append(sample.key)
        else:
            found[sample.key] = path
    if missing:
        raise DsaiiError(f"{class_dir}: no map for {len(missing)} of {len(split.test)} test images "
                         f"(e.g. {', '.join(missing[:3])}; expected {missing[0]}.npy)")
    return found


def image_scores(root: Path, split: ClassSplit, maps: dict[str, np.ndarray],
                 table: dict[tuple[str, str], float] | None) -> dict[str, float]:
    """key -> image score: from scores.csv when given (every image needed), else the max of each map."""
    if table is None:
        return {key: float(m.max()) for key, m in maps.items()}
    scores, missing = {}, []
    for sample in split.test:
        defect, stem = sample.key.split("/", 1)
        names = [(c, i) for c in (split.name, split.folder.name) for i in (sample.key, f"{defect}_{stem}", stem)]
        hit = next((table[n] for n in names if n in table), None)
        if hit is None:
            missing.append(sample.key)
        else:
            scores[sample.key] = hit
    if missing:
        raise DsaiiError(f"{Path(root) / SCORES_CSV}: no score for {len(missing)} test images of {split.name} "
                         f"(e.g. {missing[0]})")
    return scores
