"""Lint a dataset folder: name every problem of an export with its file.

Checks our exports, the published DSAII folder ({CLASS}/normal, anomaly, mask, img_url.json) and
MVTec AD downloads ({CLASS}/train/good, test/<defect>, ground_truth/<defect>/<stem>_mask). Each image
is read once; classes are checked in a process pool and the cross-class checks (exact duplicates,
our manifest) run on what the classes send back.

An anomaly is compared with its parent normal: named by our manifest's `parents`, else the nearest
normal of the same size whose pixels outside the (feathered) mask agree almost everywhere; a real
defect photo has no such normal and is not compared. A synthetic anomaly is by design a near copy of
its parent, so only normals are searched for near duplicates.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from dsaii_core import imageio
from dsaii_core.atomic import sha256_file
from dsaii_core.collect.dedupe import NEAR_DUPLICATE_BITS, ImageHashes, image_hashes
from dsaii_core.errors import DsaiiError

LAYOUTS = ("dsaii", "mvtec")
MANIFEST, MARKER = "manifest.json", ".dsaii-export"  # as dsaii_core.export writes them
CHANGE_LEVELS = 3        # a pixel has changed when a channel differs by more than this (exports are lossless PNG)
FEATHER_PX = 3           # changes this close to the mask are its blended edge, not a change outside it
VISIBLE_LEVELS = 8       # a change smaller than this is invisible to a person and to most detectors
VISIBLE_SHARE = 0.01     # an anomaly shows a change when this share of its mask (at least MIN_VISIBLE_PX) changed visibly
MIN_VISIBLE_PX = 8
PARENT_AGREEMENT = 0.9   # a normal is an anomaly's parent when this share of pixels outside the mask is unchanged
# (different photos of one MVTec object agree on at most ~65 % of them; an inpainted copy on ~100 %)
PARENT_CANDIDATES = 3    # normals compared pixel by pixel per anomaly, most similar first
PARENT_THUMB_LEVELS = 0.5  # a candidate parent's 32 px thumbnail equals the anomaly's off the mask (median difference
# of the cells away from it; different photos of one MVTec object differ by several grey levels)
CACHE_BYTES = 256 << 20  # decoded normals kept per worker for the comparisons (beyond it a parent is read again)
NEAR_CORRELATION = 0.999  # near duplicates (re-encoded, resized, recoloured copies: >= 0.9998) also correlate this
# well on a 32 px grey thumbnail; distinct shots from a fixed camera share perceptual hashes (0-8 bits apart: MVTec
# transistor, BSData ball screw) but correlate at most ~0.997. Slightly cropped copies are not caught.
BLANK_STD = 2.0          # grey-level spread under which an image is blank
SERIAL_BELOW = 300       # image files under which a process pool costs more than it saves
KINDS = ("layout", "pairing", "mask", "unreadable", "blank", "no_change", "outside_mask", "duplicate",
         "near_duplicate", "leakage", "provenance", "manifest")


@dataclass(frozen=True)
class Problem:
    path: str     # relative to the folder above the classes: <class>/<folder>/<file>
    what: str
    kind: str     # one of KINDS

    def line(self) -> str:
        return f"{self.path}: {self.what}"


@dataclass
class ValidationReport:
    root: Path
    layout: str
    problems: list[Problem] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)   # classes, normal, anomaly, mask

    @property
    def clean(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        return [p.line() for p in self.problems]

    def summary(self) -> str:
        seen = (f"{self.counts.get('classes', 0)} classes, {self.counts.get('normal', 0)} normal, "
                f"{self.counts.get('anomaly', 0)} anomaly and {self.counts.get('mask', 0)} mask images")
        verdict = "clean" if self.clean else f"{len(self.problems)} problem(s)"
        return f"{self.layout} dataset {self.root}: {seen}: {verdict}"

    def as_dict(self) -> dict:
        return {"root": str(self.root), "layout": self.layout, "clean": self.clean, "counts": self.counts,
                "settings": {"change_levels": CHANGE_LEVELS, "feather_px": FEATHER_PX,
                             "visible_levels": VISIBLE_LEVELS, "near_duplicate_bits": NEAR_DUPLICATE_BITS},
                "problems": [asdict(p) for p in self.problems]}


# -- finding the files ----------------------------------------------------------------------------
@dataclass
class _Image:
    path: str                 # relative, posix
    role: str                 # normal | anomaly
    split: str = ""           # train | test (MVTec normals)
    mask: str | None = None   # relative path of an anomaly's mask


@dataclass
class _ClassJob:
    name: str
    base: str                                          # folder the relative paths start from
    images: list[_Image] = field(default_factory=list)
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


def _is_class_folder(folder: Path) -> bool:
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
    shapes = [_looks_like(root)] if _is_class_folder(root) else [_looks_like(p) for p in sorted(root.iterdir())
                                                                  if p.is_dir() and not p.name.startswith(".")]
    shapes = [s for s in shapes if s]
    if not shapes:
        raise DsaiiError(f"{root}: no DSAII ({{class}}/normal, anomaly, mask) or MVTec AD ({{class}}/train, test, "
                         "ground_truth) class folders found")
    return max(LAYOUTS, key=shapes.count)


def _pair(job: _ClassJob, anomalies: list[Path], masks: dict[str, Path], rel: Callable[[Path], str],
          defect_folder: str) -> None:
    """Anomalies with their masks; an anomaly without mask and a mask without anomaly are problems."""
    used = set()
    for image in anomalies:
        mask = masks.get(image.stem)
        job.images.append(_Image(rel(image), "anomaly", mask=rel(mask) if mask else None))
        if mask is None:
            job.problems.append(Problem(rel(image), f"anomaly without a mask in {defect_folder}", "pairing"))
        else:
            used.add(mask)
    for mask in sorted(set(masks.values()) - used):
        job.problems.append(Problem(rel(mask), "mask without an anomaly image", "pairing"))


def _dsaii_class(folder: Path, job: _ClassJob, rel: Callable[[Path], str]) -> None:
    normals = _files(folder / "normal")
    if not (folder / "normal").is_dir():
        job.problems.append(Problem(rel(folder), "no normal folder", "layout"))
    job.images += [_Image(rel(p), "normal") for p in normals]
    masks = _mask_lookup(folder / "mask", "_mask")
    _pair(job, _files(folder / "anomaly"), masks, rel, f"{folder.name}/mask")
    if normals:
        job.urls = rel(folder / "img_url.json")


def _mvtec_class(folder: Path, job: _ClassJob, rel: Callable[[Path], str]) -> None:
    if not (folder / "train" / "good").is_dir():
        job.problems.append(Problem(rel(folder), "no train/good folder", "layout"))
    job.images += [_Image(rel(p), "normal", split="train") for p in _files(folder / "train" / "good")]
    job.images += [_Image(rel(p), "normal", split="test") for p in _files(folder / "test" / "good")]
    truth = folder / "ground_truth"
    defects = sorted(p.name for p in (folder / "test").iterdir() if p.is_dir() and p.name != "good") \
        if (folder / "test").is_dir() else []
    for defect in defects:
        _pair(job, _files(folder / "test" / defect), _mask_lookup(truth / defect, "_mask"), rel,
              f"ground_truth/{defect}")
    for extra in sorted(p for p in truth.iterdir() if p.is_dir() and p.name not in defects) if truth.is_dir() else []:
        for mask in _files(extra):
            job.problems.append(Problem(rel(mask), "mask without an anomaly image", "pairing"))


def _class_jobs(root: Path, layout: str) -> list[_ClassJob]:
    single = _is_class_folder(root)
    folders = [root] if single else sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    base = root.parent if single else root
    jobs = []
    for folder in folders:
        if not single and _looks_like(folder) is None:
            continue   # not a class folder (docs, licenses)
        job = _ClassJob(folder.name, str(base))

        def rel(path: Path) -> str:
            return path.relative_to(base).as_posix()
        (_dsaii_class if layout == "dsaii" else _mvtec_class)(folder, job, rel)
        jobs.append(job)
    return jobs


# -- checking one class (in a worker process) -----------------------------------------------------
@dataclass
class _Seen:
    """What a worker learnt about one image, sent back for the cross-class checks."""
    path: str
    role: str
    pixels: str | None = None   # digest of the decoded pixels (None: unreadable)


@dataclass
class _ClassResult:
    problems: list[Problem]
    seen: list[_Seen]
    file_sha: dict[str, str]


def _short(error: DsaiiError, name: str) -> str:
    text = str(error)
    return text[len(name) + 2:] if text.startswith(f"{name}: ") else text


def _small(image: np.ndarray) -> np.ndarray:
    """A 32×32 grey thumbnail (float32 grey levels; cells of equal pixels give equal values)."""
    return cv2.resize(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32)


def _unit(small: np.ndarray) -> np.ndarray:
    """The thumbnail made zero-mean and unit-length: dot products are correlations."""
    flat = small.ravel() - small.mean()
    norm = float(np.linalg.norm(flat))
    return flat / norm if norm > 0 else flat


def _hashes(image: np.ndarray) -> ImageHashes:
    """Perceptual hashes of a 128 px copy (the hashes of a shrunk image; 3× faster than from full size)."""
    height, width = image.shape[:2]
    scale = 128 / max(height, width)
    small = cv2.resize(image, (max(1, round(width * scale)), max(1, round(height * scale))),
                       interpolation=cv2.INTER_AREA) if scale < 1 else image
    return image_hashes(small)


def _pixel_digest(image: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(image).data).hexdigest() + f":{image.shape}"


def _blank(image: np.ndarray) -> str | None:
    low, high = int(image.min()), int(image.max())
    if low == high:
        return f"constant image (every pixel is {low})"
    sample = image[::4, ::4].astype(np.float32)
    if float(sample.std()) < BLANK_STD:
        return "blank image (almost one colour)"
    return None


def _channel_max(diff: np.ndarray) -> np.ndarray:
    return diff if diff.ndim == 2 else np.maximum(np.maximum(diff[..., 0], diff[..., 1]), diff[..., 2])


_FEATHER = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * FEATHER_PX + 1, 2 * FEATHER_PX + 1))


class _ClassCheck:
    def __init__(self, job: _ClassJob):
        self.job, self.base = job, Path(job.base)
        self.problems: list[Problem] = list(job.problems)
        self.seen: list[_Seen] = []
        self.file_sha: dict[str, str] = {}
        # What is known of each readable normal: hashes, 32 px thumbnail, shape, and its pixels while the budget lasts.
        self.hashes: dict[str, ImageHashes] = {}
        self.small: dict[str, np.ndarray] = {}
        self.shapes: dict[str, tuple] = {}
        self.pixels: dict[str, np.ndarray] = {}
        self.budget = CACHE_BYTES

    def problem(self, path: str, what: str, kind: str) -> None:
        self.problems.append(Problem(path, what, kind))

    def read(self, path: str, reader: Callable = imageio.read_image) -> np.ndarray | None:
        try:
            data = (self.base / path).read_bytes()
        except OSError as exc:
            self.problem(path, f"unreadable ({exc.strerror or exc})", "unreadable")
            return None
        if path in self.job.digests:
            self.file_sha[path] = hashlib.sha256(data).hexdigest()
        try:
            return reader(data, path)
        except DsaiiError as exc:
            self.problem(path, _short(exc, path), "unreadable")
            return None

    def run(self) -> _ClassResult:
        normals = [i for i in self.job.images if i.role == "normal"]
        for item in normals:
            image = self.read(item.path)
            self.seen.append(_Seen(item.path, "normal", None if image is None else _pixel_digest(image)))
            if image is None:
                continue
            if (blank := _blank(image)) is not None:
                self.problem(item.path, blank, "blank")
            self.hashes[item.path], self.small[item.path] = _hashes(image), _small(image)
            self.shapes[item.path] = image.shape
            if image.nbytes <= self.budget:
                self.pixels[item.path] = image
                self.budget -= image.nbytes
        self.near_duplicates([i for i in normals if i.path in self.hashes])
        for item in (i for i in self.job.images if i.role == "anomaly"):
            self.anomaly(item)
        if self.job.urls:
            self.img_urls(normals)
        return _ClassResult(self.problems, self.seen, self.file_sha)

    def near_duplicates(self, normals: list[_Image]) -> None:
        if len(normals) < 2:
            return
        phash = np.array([self.hashes[i.path].phash for i in normals], dtype=np.uint64)
        dhash = np.array([self.hashes[i.path].dhash for i in normals], dtype=np.uint64)
        pixels = [self.hashes[i.path].pixels for i in normals]
        bits = np.maximum(np.bitwise_count(phash[:, None] ^ phash[None, :]),
                          np.bitwise_count(dhash[:, None] ^ dhash[None, :]))
        units = np.stack([_unit(self.small[i.path]) for i in normals])
        near = (bits <= NEAR_DUPLICATE_BITS) & (units @ units.T >= NEAR_CORRELATION)
        for later, earlier in zip(*np.nonzero(np.tril(near, -1))):
            if pixels[later] == pixels[earlier]:
                continue  # the same pixels: reported as an exact duplicate
            a, b = normals[earlier], normals[later]
            if a.split != b.split:
                self.problem(b.path, f"near duplicate of {a.path} across train and test (leakage; hash distance "
                                     f"{bits[later, earlier]})", "leakage")
            else:
                self.problem(b.path, f"near duplicate of {a.path} (hash distance {bits[later, earlier]})",
                             "near_duplicate")

    def anomaly(self, item: _Image) -> None:
        image = self.read(item.path)
        self.seen.append(_Seen(item.path, "anomaly", None if image is None else _pixel_digest(image)))
        if image is not None and (blank := _blank(image)) is not None:
            self.problem(item.path, blank, "blank")
        if item.mask is None:
            return
        raw = self.read(item.mask, imageio.read_gray)
        if raw is None:
            return
        values = np.flatnonzero(np.bincount(raw.ravel(), minlength=256)) if raw.dtype == np.uint8 else np.unique(raw)
        top = {np.dtype(np.uint8): 255, np.dtype(np.uint16): 65535}.get(raw.dtype, values.max())
        if not set(values.tolist()) <= {0, top}:
            self.problem(item.mask, f"mask is not binary: {len(values)} values from {values.min()} to {values.max()}",
                         "mask")
        mask = imageio.binarize(raw)
        if not mask.any():
            self.problem(item.mask, "mask is empty (no anomalous pixel)", "mask")
        if image is None:
            return
        if mask.shape != image.shape[:2]:
            self.problem(item.mask, f"mask is {mask.shape[1]}×{mask.shape[0]} but its image {item.path} is "
                                    f"{image.shape[1]}×{image.shape[0]}", "mask")
            return
        self.compare_with_parent(item, image, mask)

    def parent_candidates(self, image: np.ndarray, feathered: np.ndarray) -> list[str]:
        """Normals of the image's size whose thumbnail equals the anomaly's away from the mask, most alike first."""
        away = cv2.resize(feathered.astype(np.float32), (32, 32), interpolation=cv2.INTER_AREA) == 0
        if not away.any():
            return []
        small = _small(image)[away]
        scores = {path: float(np.median(np.abs(self.small[path][away] - small)))
                  for path, shape in self.shapes.items() if shape == image.shape}
        return sorted((p for p, score in scores.items() if score <= PARENT_THUMB_LEVELS), key=scores.get)[
            :PARENT_CANDIDATES]

    def compare_with_parent(self, item: _Image, image: np.ndarray, mask: np.ndarray) -> None:
        """Changes outside the mask, and no visible change inside it, against the parent normal when found."""
        feathered = cv2.dilate(mask, _FEATHER) > 0
        named = self.job.parents.get(item.path)
        if named is not None:
            candidates = [named] if named in self.shapes else []
        else:
            candidates = self.parent_candidates(image, feathered)
        outside_count = int((~feathered).sum())
        for parent in candidates:
            if self.shapes[parent] != image.shape:
                self.problem(item.path, f"is not the size of its parent normal {parent}", "pairing")
                return
            normal = self.pixels.get(parent)
            normal = self.read(parent) if normal is None else normal
            if normal is None:
                return
            changed = _channel_max(cv2.absdiff(image, normal))
            outside = (changed > CHANGE_LEVELS) & ~feathered
            n_outside = int(outside.sum())
            if named is None and outside_count and n_outside > (1 - PARENT_AGREEMENT) * outside_count:
                continue   # not its parent: a different photo
            if not changed.any():
                return     # the same pixels as a normal: reported once, as an exact duplicate
            if n_outside:
                self.problem(item.path, f"{n_outside} px ({100 * n_outside / changed.size:.2f} %) changed outside "
                                        f"the mask (beyond a {FEATHER_PX} px feather), by up to "
                                        f"{int(changed[outside].max())} grey levels, against {parent}",
                             "outside_mask")
            visible = int((changed > VISIBLE_LEVELS).sum())
            if visible < max(MIN_VISIBLE_PX, VISIBLE_SHARE * int(mask.astype(bool).sum())):
                self.problem(item.path, f"no visible change from its normal {parent} ({visible} px changed by more "
                                        f"than {VISIBLE_LEVELS} grey levels)", "no_change")
            return

    def img_urls(self, normals: list[_Image]) -> None:
        path = self.job.urls
        try:
            entries = json.loads((self.base / path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            self.problem(path, "missing: the normal images have no source or license", "provenance")
            return
        except (OSError, ValueError) as exc:
            self.problem(path, f"unreadable ({exc})", "provenance")
            return
        if not isinstance(entries, list):
            self.problem(path, "not a list of {img_path, url, license} entries", "provenance")
            return
        listed = set()
        class_folder = Path(path).parent
        for index, entry in enumerate(entries):
            image = entry.get("img_path") if isinstance(entry, dict) else None
            if not image:
                self.problem(path, f"entry {index} has no img_path", "provenance")
                continue
            relative = Path(str(image).removeprefix("./")).as_posix()
            if not (self.base / relative).is_file() and (self.base / class_folder / relative).is_file():
                relative = (class_folder / relative).as_posix()
            if not (self.base / relative).is_file():
                self.problem(path, f"entry {image}: no such file", "provenance")
                continue
            listed.add(relative)
            if not entry.get("license"):
                self.problem(relative, "img_url.json entry has no license", "provenance")
        for item in normals:
            if item.path not in listed:
                self.problem(item.path, "no img_url.json entry (source and license unknown)", "provenance")


def _check_class(job: _ClassJob) -> _ClassResult:
    return _ClassCheck(job).run()


# -- the whole folder -----------------------------------------------------------------------------
def _manifest(root: Path) -> dict | None:
    """Our export's manifest, when the folder carries our marker."""
    if not (root / MARKER).is_file():
        return None
    try:
        manifest = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return manifest if isinstance(manifest, dict) else {}


def _exact_duplicates(seen: list[_Seen], splits: dict[str, str]) -> list[Problem]:
    groups: dict[str, list[_Seen]] = {}
    for entry in seen:
        if entry.pixels is not None:
            groups.setdefault(entry.pixels, []).append(entry)
    problems = []
    for group in groups.values():
        if len(group) < 2:
            continue
        group.sort(key=lambda e: (e.role != "normal", e.path))
        first = group[0]
        for other in group[1:]:
            if other.role == "anomaly" and first.role == "normal":
                problems.append(Problem(other.path, f"no visible change: the same pixels as the normal {first.path}",
                                        "no_change"))
            elif {splits.get(first.path), splits.get(other.path)} == {"train", "test"}:
                problems.append(Problem(other.path, f"the same pixels as {first.path} across train and test "
                                                    "(leakage)", "leakage"))
            else:
                problems.append(Problem(other.path, f"exact duplicate of {first.path}", "duplicate"))
    return problems


def _manifest_problems(root: Path, manifest: dict, jobs: list[_ClassJob], results: list[_ClassResult]) -> list[Problem]:
    """Files of our export that were changed, removed or added since it was written."""
    listed = manifest.get("files") if isinstance(manifest.get("files"), dict) else {}
    read = {path: digest for result in results for path, digest in result.file_sha.items()}
    problems = []
    for path, digest in sorted(listed.items()):
        if not (root / path).is_file():
            problems.append(Problem(path, "listed in manifest.json but missing", "manifest"))
            continue
        actual = read.get(path) or (None if imageio.is_image_name(path) else sha256_file(root / path))
        if actual is not None and actual != digest:
            problems.append(Problem(path, "differs from the file the export wrote (manifest sha256)", "manifest"))
    present = {i.path for job in jobs for i in job.images} | {i.mask for job in jobs for i in job.images if i.mask}
    for path in sorted(present - set(listed)):
        problems.append(Problem(path, "not listed in manifest.json (added after the export)", "manifest"))
    return problems


def validate(folder: Path, layout: str | None = None, *, workers: int | None = None,
             progress: Callable[[float], None] = lambda f: None) -> ValidationReport:
    """Check a dataset folder (or one class folder) and return every problem found, with its file.

    `layout` None: detected. `workers` None: one process per core (small folders run in this process).
    """
    root = Path(folder).expanduser().resolve()
    if not root.is_dir():
        raise DsaiiError(f"{folder}: no such folder")
    if layout is not None and layout not in LAYOUTS:
        raise DsaiiError(f"layout must be one of {LAYOUTS}, not '{layout}'")
    layout = layout or detect_layout(root)
    manifest = _manifest(root)
    jobs = _class_jobs(root, layout)
    if manifest:
        parents = manifest.get("parents") if isinstance(manifest.get("parents"), dict) else {}
        listed = manifest.get("files") if isinstance(manifest.get("files"), dict) else {}
        for job in jobs:
            paths = {i.path for i in job.images} | {i.mask for i in job.images if i.mask}
            job.parents = {a: n for a, n in parents.items() if a in paths}
            job.digests = {p: listed[p] for p in paths if p in listed}
    results = _run(jobs, workers, progress)
    report = ValidationReport(root, layout)
    splits = {i.path: i.split for job in jobs for i in job.images if i.split}
    report.problems = [p for r in results for p in r.problems]
    report.problems += _exact_duplicates([s for r in results for s in r.seen], splits)
    if manifest is not None:
        report.problems += _manifest_problems(root, manifest, jobs, results)
    report.problems.sort(key=lambda p: (p.path, p.kind, p.what))
    report.counts = {"classes": len(jobs),
                     "normal": sum(i.role == "normal" for j in jobs for i in j.images),
                     "anomaly": sum(i.role == "anomaly" for j in jobs for i in j.images),
                     "mask": sum(i.mask is not None for j in jobs for i in j.images)}
    return report


def _run(jobs: list[_ClassJob], workers: int | None, progress: Callable[[float], None]) -> list[_ClassResult]:
    workers = workers or os.cpu_count() or 1
    total = max(1, sum(j.size for j in jobs))
    if workers <= 1 or len(jobs) <= 1 or total < SERIAL_BELOW:
        results = []
        for index, job in enumerate(jobs):
            results.append(_check_class(job))
            progress((index + 1) / len(jobs))
        return results
    results: list[_ClassResult | None] = [None] * len(jobs)
    # Spawned workers: forking a server that runs threads (Streamlit) can copy a held lock.
    context = multiprocessing.get_context("spawn")
    order = sorted(range(len(jobs)), key=lambda i: -jobs[i].size)   # the biggest classes first
    done = 0
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=context) as pool:
        futures = {pool.submit(_check_class, jobs[i]): i for i in order}
        for future in as_completed(futures):
            results[futures[future]] = future.result()
            done += jobs[futures[future]].size
            progress(done / total)
    return [r for r in results if r is not None]
