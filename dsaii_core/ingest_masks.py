"""Masks beside images: tell ground-truth masks from photos in a folder and pair each mask with its photo.

Datasets often keep masks next to their photos (Magnetic-tile: `x.jpg` + `x.png`; BSData: `masks/x_mask.png`
for `images/pitting/x.jpg`). A mask imported as a normal image poisons a dataset, so a file is taken as a
mask when something says so, by

- name: its stem ends in `_mask`, `_gt`, `_label`, `_groundtruth` (or with `-`), or
- folder: it lies in a folder named like `ground_truth`, `gt`, `mask(s)`, `*_masks`, or
- sibling: another image with the same stem lies in the same folder (`x.jpg` + `x.png`),

and its pixels agree (`looks_like_mask`: grey, and nearly all pixels black or white; soft mask edges
are fine). A mask is paired with the one photo of its stem (minus the mask suffix): in its own folder
first, else anywhere under the import root (preferring a folder of the mask's folder's name, as in
`test/crack/000.png` ↔ `ground_truth/crack/000_mask.png`). A mask without its photo is refused with a
message; it is never imported as an image.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dsaii_core import imageio
from dsaii_core.errors import DsaiiError

MASK_SUFFIX = re.compile(r"[_\-.](mask|masks|gt|label|groundtruth|ground_truth)$", re.IGNORECASE)
MASK_FOLDER = re.compile(r"^(ground[_\- ]?truths?|gts?|masks?|.+[_\-]masks?|.+[_\-]gt)$", re.IGNORECASE)
# Folder names that say nothing about the defect a photo shows (the defect is named after another folder).
GENERIC_FOLDERS = {"imgs", "img", "images", "image", "photos", "photo", "pictures", "data", "test", "train",
                   "bad", "defect", "defects", "anomaly", "anomalies", "abnormal", "ng"}
BINARY_SHARE = 0.9  # soft-edged masks measure ≥ 0.97 black-or-white pixels here, photos ≤ 0.09


def looks_like_mask(image: np.ndarray) -> bool:
    """True for a grey image whose pixels are nearly all black or white (0 / 1 / 255), or of one value."""
    if image.ndim == 3 and not ((image[..., 0] == image[..., 1]).all() and (image[..., 0] == image[..., 2]).all()):
        return False
    grey = image[..., 0] if image.ndim == 3 else image
    if grey.min() == grey.max():
        return True
    binary = np.count_nonzero((grey <= 1) | (grey == 255))
    return binary >= BINARY_SHARE * grey.size


def mask_key(path: Path) -> str:
    """The stem of the photo a mask belongs to (case folded): `000_mask.png` → `000`."""
    return MASK_SUFFIX.sub("", path.stem).casefold()


def is_mask_folder(name: str) -> bool:
    return bool(MASK_FOLDER.match(name))


def defect_name(photo: Path, root: Path) -> str:
    """The defect a paired photo shows, after its nearest folder with a telling name (`MT_Crack/Imgs` → MT_Crack)."""
    for part in reversed(photo.relative_to(root).parts[:-1]):
        if part.casefold() not in GENERIC_FOLDERS and not is_mask_folder(part):
            return part
    return "defect"


@dataclass
class Pairing:
    """Photos (each with the mask beside it, or None) and the masks refused, in file order."""
    photos: list[tuple[Path, Path | None]] = field(default_factory=list)
    refused: list[tuple[Path, str]] = field(default_factory=list)


def _is_mask_file(path: Path) -> bool:
    try:
        return looks_like_mask(imageio.read_image(path, path.name))
    except (DsaiiError, OSError):
        return False  # an unreadable file goes on as a photo, and its import reports it by name


def _candidates(files: list[Path], root: Path) -> dict[Path, str]:
    """Files something calls a mask, with what said so."""
    found: dict[Path, str] = {}
    by_stem: dict[tuple[Path, str], list[Path]] = {}
    for path in files:
        folders = (root.name, *path.relative_to(root).parts[:-1])
        if MASK_SUFFIX.search(path.stem):
            found[path] = "its name says mask"
        elif any(is_mask_folder(p) for p in folders):
            found[path] = "it lies in a mask folder"
        by_stem.setdefault((path.parent, path.stem.casefold()), []).append(path)
    for group in by_stem.values():
        if len(group) > 1:
            for path in group:
                found.setdefault(path, "an image of the same name lies beside it")
    return found


def pair_masks(files: list[Path], root: Path) -> Pairing:
    """Split `files` (images under `root`) into photos with their masks and refused masks."""
    masks = {path: why for path, why in _candidates(files, root).items() if _is_mask_file(path)}
    photos = [p for p in files if p not in masks]
    by_stem: dict[str, list[Path]] = {}
    for photo in photos:
        by_stem.setdefault(photo.stem.casefold(), []).append(photo)
    mask_of: dict[Path, Path] = {}
    refused: list[tuple[Path, str]] = []
    for mask in sorted(masks, key=str):
        key = mask_key(mask)
        options = by_stem.get(key, [])
        near = [p for p in options if p.parent == mask.parent] or \
               [p for p in options if p.parent.name == mask.parent.name] or options
        if not options:
            refused.append((mask, f"looks like a mask ({masks[mask]}, and its pixels are black and white) but no "
                                  f"photo named '{key}.*' is beside it: not imported"))
        elif len(near) > 1:
            refused.append((mask, "a mask that fits several photos ("
                                  + ", ".join(p.name for p in near[:3]) + "): not imported"))
        elif near[0] in mask_of:
            refused.append((mask, f"a second mask for {near[0].name} (the first is {mask_of[near[0]].name}): "
                                  "not imported"))
        else:
            mask_of[near[0]] = mask
    return Pairing([(p, mask_of.get(p)) for p in photos], refused)
