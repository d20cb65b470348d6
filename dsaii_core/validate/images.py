"""The checks of one class, run in a worker process: each image read once, masks, parents, near duplicates."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from dsaii_core import imageio
from dsaii_core.collect.dedupe import (NEAR_DUPLICATE_BITS, NEAR_THUMB_LEVELS, ImageHashes, grey_thumbnail,
                                      image_hashes, signatures_alike, thumbnail_signature)
from dsaii_core.errors import DsaiiError
from dsaii_core.validate.layout import ClassJob, ImageEntry
from dsaii_core.validate.report import Problem

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
BLANK_STD = 2.0          # grey-level spread under which an image is blank


@dataclass
class Seen:
    """What a worker learnt about one image, sent back for the cross-class checks."""
    path: str
    role: str
    pixels: str | None = None   # digest of the decoded pixels (None: unreadable)


@dataclass
class ClassResult:
    problems: list[Problem]
    seen: list[Seen]
    file_sha: dict[str, str]


def _short(error: DsaiiError, name: str) -> str:
    text = str(error)
    return text[len(name) + 2:] if text.startswith(f"{name}: ") else text


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


class ClassCheck:
    def __init__(self, job: ClassJob):
        self.job, self.base = job, Path(job.base)
        self.problems: list[Problem] = list(job.problems)
        self.seen: list[Seen] = []
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

    def run(self) -> ClassResult:
        normals = [i for i in self.job.images if i.role == "normal"]
        for item in normals:
            image = self.read(item.path)
            self.seen.append(Seen(item.path, "normal", None if image is None else _pixel_digest(image)))
            if image is None:
                continue
            if (blank := _blank(image)) is not None:
                self.problem(item.path, blank, "blank")
            self.hashes[item.path], self.small[item.path] = _hashes(image), grey_thumbnail(image)
            self.shapes[item.path] = image.shape
            if image.nbytes <= self.budget:
                self.pixels[item.path] = image
                self.budget -= image.nbytes
        self.near_duplicates([i for i in normals if i.path in self.hashes])
        for item in (i for i in self.job.images if i.role == "anomaly"):
            self.anomaly(item)
        if self.job.urls:
            self.img_urls(normals)
        return ClassResult(self.problems, self.seen, self.file_sha)

    def near_duplicates(self, normals: list[ImageEntry]) -> None:
        if len(normals) < 2:
            return
        phash = np.array([self.hashes[i.path].phash for i in normals], dtype=np.uint64)
        dhash = np.array([self.hashes[i.path].dhash for i in normals], dtype=np.uint64)
        pixels = [self.hashes[i.path].pixels for i in normals]
        bits = np.maximum(np.bitwise_count(phash[:, None] ^ phash[None, :]),
                          np.bitwise_count(dhash[:, None] ^ dhash[None, :]))
        for later, earlier in zip(*np.nonzero(np.tril(bits <= NEAR_DUPLICATE_BITS, -1))):
            if pixels[later] == pixels[earlier]:
                continue  # the same pixels: reported as an exact duplicate
            if not signatures_alike(*(thumbnail_signature(self.small[normals[i].path]) for i in (later, earlier))):
                continue  # aligned shots of different parts hash alike
            a, b = normals[earlier], normals[later]
            if a.split != b.split:
                self.problem(b.path, f"near duplicate of {a.path} across train and test (leakage; hash distance "
                                     f"{bits[later, earlier]})", "leakage")
            else:
                self.problem(b.path, f"near duplicate of {a.path} (hash distance {bits[later, earlier]})",
                             "near_duplicate")

    def anomaly(self, item: ImageEntry) -> None:
        image = self.read(item.path)
        self.seen.append(Seen(item.path, "anomaly", None if image is None else _pixel_digest(image)))
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
        small = grey_thumbnail(image)[away]
        scores = {path: float(np.median(np.abs(self.small[path][away] - small)))
                  for path, shape in self.shapes.items() if shape == image.shape}
        return sorted((p for p, score in scores.items() if score <= PARENT_THUMB_LEVELS), key=scores.get)[
            :PARENT_CANDIDATES]

    def compare_with_parent(self, item: ImageEntry, image: np.ndarray, mask: np.ndarray) -> None:
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

    def img_urls(self, normals: list[ImageEntry]) -> None:
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


def check_class(job: ClassJob) -> ClassResult:
    return ClassCheck(job).run()


def settings() -> dict[str, float]:
    """The thresholds in force, for reports."""
    return {"change_levels": CHANGE_LEVELS, "feather_px": FEATHER_PX, "visible_levels": VISIBLE_LEVELS,
            "visible_share": VISIBLE_SHARE, "near_duplicate_bits": NEAR_DUPLICATE_BITS,
            "near_thumb_levels": NEAR_THUMB_LEVELS, "parent_agreement": PARENT_AGREEMENT, "blank_std": BLANK_STD}
