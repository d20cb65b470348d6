"""Where a dataset folder keeps its images: the DSAII or MVTec AD layout, its classes, anomalies and their masks."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from dsaii_core import imageio
from dsaii_core.errors import DsaiiError
from dsaii_core.validate.report import Problem

LAYOUTS = ("dsaii", "mvtec")
MANIFEST, MARKER = "manifest.json", ".dsaii-export"  # as dsaii_core.export writes them


@dataclass
class ImageEntry:
    path: str                 # relative, posix
    role: str                 # normal | anomaly
    split: str = ""           # train | test (MVTec normals)
    mask: str | None = None   # relative path of an anomaly's mask


@dataclass
class ClassJob:
    name: str
    base: str                                          # folder the relative paths start from
    images: list[ImageEntry] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    parents: dict[str, str] = field(default_factory=dict)
    urls: str | None = None                            # img_url.json of a DSAII class
    digests: dict[str, str] = field(default_factory=dict)   # file sha256 to check against our manifest

    @property
    def size(self) -> int:
        return len(self.images) + sum(i.mask is not None for i in self.images)


def _files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                  and imageio.is_image_name(p.name))


def _mask_lookup(folder: Path, suffix: str = "") -> dict[str, Path]:
    """Masks of a folder by the stem of the image they belong to (`000_mask.png` and `000.png` → `000`)."""
    found = {}
    for path in _files(folder):
        stem = path.stem
        if suffix and stem.endswith(suffix):
            stem = stem[: -len(suffix)]
        found.setdefault(stem, path)
    return found


def _looks_like(folder: Path) -> str | None:
    if (folder / "train").is_dir() or (folder / "ground_truth").is_dir():
        return "mvtec"
    if any((folder / name).is_dir() for name in ("normal", "anomaly", "mask")):
        return "dsaii"
    return None


def is_class_folder(folder: Path) -> bool:
    """One class's folder rather than a root of classes (our export's root is a root, whatever its classes' names)."""
    return _looks_like(folder) is not None and not (folder / MARKER).is_file()


def detect_layout(root: Path) -> str:
    """'dsaii' or 'mvtec': from our marker's manifest, else from the class folders' shape."""
    root = Path(root)
    try:
        layout = json.loads((root / MANIFEST).read_text(encoding="utf-8")).get("layout")
        if (root / MARKER).is_file() and layout in LAYOUTS:
            return layout
    except (OSError, ValueError, AttributeError):
        pass
    shapes = [_looks_like(root)] if is_class_folder(root) else [_looks_like(p) for p in sorted(root.iterdir())
                                                                  if p.is_dir() and not p.name.startswith(".")]
    shapes = [s for s in shapes if s]
    if not shapes:
        raise DsaiiError(f"{root}: no DSAII ({{class}}/normal, anomaly, mask) or MVTec AD ({{class}}/train, test, "
                         "ground_truth) class folders found")
    return max(LAYOUTS, key=shapes.count)


def _pair(job: ClassJob, anomalies: list[Path], masks: dict[str, Path], rel: Callable[[Path], str],
          defect_folder: str) -> None:
    """Anomalies with their masks; an anomaly without mask and a mask without anomaly are problems."""
    used = set()
    for image in anomalies:
        mask = masks.get(image.stem)
        job.images.append(ImageEntry(rel(image), "anomaly", mask=rel(mask) if mask else None))
        if mask is None:
            job.problems.append(Problem(rel(image), f"anomaly without a mask in {defect_folder}", "pairing"))
        else:
            used.add(mask)
    for mask in sorted(set(masks.values()) - used):
        job.problems.append(Problem(rel(mask), "mask without an anomaly image", "pairing"))


def _dsaii_class(folder: Path, job: ClassJob, rel: Callable[[Path], str]) -> None:
    normals = _files(folder / "normal")
    if not (folder / "normal").is_dir():
        job.problems.append(Problem(rel(folder), "no normal folder", "layout"))
    job.images += [ImageEntry(rel(p), "normal") for p in normals]
    masks = _mask_lookup(folder / "mask", "_mask")
    _pair(job, _files(folder / "anomaly"), masks, rel, f"{folder.name}/mask")
    if normals:
        job.urls = rel(folder / "img_url.json")


def _mvtec_class(folder: Path, job: ClassJob, rel: Callable[[Path], str]) -> None:
    if not (folder / "train" / "good").is_dir():
        job.problems.append(Problem(rel(folder), "no train/good folder", "layout"))
    job.images += [ImageEntry(rel(p), "normal", split="train") for p in _files(folder / "train" / "good")]
    job.images += [ImageEntry(rel(p), "normal", split="test") for p in _files(folder / "test" / "good")]
    truth = folder / "ground_truth"
    defects = sorted(p.name for p in (folder / "test").iterdir() if p.is_dir() and p.name != "good") \
        if (folder / "test").is_dir() else []
    for defect in defects:
        _pair(job, _files(folder / "test" / defect), _mask_lookup(truth / defect, "_mask"), rel,
              f"ground_truth/{defect}")
    for extra in sorted(p for p in truth.iterdir() if p.is_dir() and p.name not in defects) if truth.is_dir() else []:
        for mask in _files(extra):
            job.problems.append(Problem(rel(mask), "mask without an anomaly image", "pairing"))


def class_jobs(root: Path, layout: str) -> list[ClassJob]:
    single = is_class_folder(root)
    folders = [root] if single else sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    base = root.parent if single else root
    jobs = []
    for folder in folders:
        if not single and _looks_like(folder) is None:
            continue   # not a class folder (docs, licenses)
        job = ClassJob(folder.name, str(base))

        def rel(path: Path) -> str:
            return path.relative_to(base).as_posix()
        (_dsaii_class if layout == "dsaii" else _mvtec_class)(folder, job, rel)
        jobs.append(job)
    return jobs
