"""The mask bank: real defect masks to augment into anomaly masks.

Imports MVTec AD `ground_truth` trees, the `mask` folders of DSAII-layout datasets and plain
folders of masks. Each mask is decoded once through `imageio`, checked (empty, whole-frame,
specks and unreadable files are refused with a reason), binarised, cropped to its content and
de-duplicated by the workspace; the frame it was cut from is kept so augmentation stays exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from dsaii_core import imageio
from dsaii_core.atomic import sha256_bytes
from dsaii_core.errors import DsaiiError
from dsaii_core.masks.augment import BankMask
from dsaii_core.workspace import Workspace

MIN_DEFECT_PIXELS = 4
MAX_COVERAGE = 0.95


@dataclass(frozen=True)
class BankFile:
    """A mask file found by a bank import: where it is, and the source / defect it is filed under."""
    path: Path
    source: str
    defect: str | None


@dataclass
class BankReport:
    """What a bank import did."""
    added: int = 0
    duplicates: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        text = f"{self.added} masks added to the bank, {self.duplicates} already there"
        return text + (f", {len(self.rejected)} rejected" if self.rejected else "")


# -- finding masks ----------------------------------------------------------------------------
def _images(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and imageio.is_image_name(p.name))


def _subdirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")) if folder.is_dir() else []


def find_mask_files(root: Path) -> list[BankFile]:
    """Mask files under `root`, by layout: MVTec AD (`<category>/ground_truth/<defect>/*.png`, the
    reference's glob), DSAII (`<class>/mask/*.png`), or any folder of masks (filed under its name)."""
    root = Path(root)
    if root.is_file():
        return [BankFile(root, root.parent.name or "masks", None)]
    if not root.is_dir():
        raise DsaiiError(f"{root}: no such file or folder")
    categories = [root] if (root / "ground_truth").is_dir() else [d for d in _subdirs(root)
                                                                  if (d / "ground_truth").is_dir()]
    if categories:
        return [BankFile(p, f"{c.name}/{d.name}", d.name)
                for c in categories for d in _subdirs(c / "ground_truth") for p in _images(d)]
    classes = [root] if (root / "mask").is_dir() else [d for d in _subdirs(root) if (d / "mask").is_dir()]
    if classes:
        return [BankFile(p, c.name, None) for c in classes for p in _images(c / "mask")]
    return [BankFile(p, p.parent.name if p.parent != root else root.name, p.parent.name if p.parent != root else None)
            for p in sorted(root.rglob("*")) if p.is_file() and imageio.is_image_name(p.name)]


# -- checking one mask ------------------------------------------------------------------------
def decode_bank_mask(source: Path | bytes, name: str | None = None) -> np.ndarray:
    """A defect mask as H×W uint8 0/255, or DsaiiError saying why it cannot be a bank mask.

    Soft masks are thresholded at half range; masks stored as 0/1 labels are read as labels.
    """
    name = name or (str(source) if isinstance(source, Path) else "mask")
    mask = imageio.read_mask(source, name)
    if not mask.any():
        labels = imageio.read_image(source, name).max(axis=2)
        if 0 < labels.max() <= 1:  # a 0/1 label image: nothing reaches half of 255
            mask = imageio.binarize(labels > 0)
    defect = int(np.count_nonzero(mask))
    if defect == 0:
        raise DsaiiError(f"{name}: empty mask (no defect pixels)")
    if defect < MIN_DEFECT_PIXELS:
        raise DsaiiError(f"{name}: only {defect} defect pixel{'s' if defect > 1 else ''} "
                         f"({mask.shape[1]}×{mask.shape[0]} image); too small to augment")
    if defect / mask.size > MAX_COVERAGE:
        raise DsaiiError(f"{name}: covers {100 * defect / mask.size:.0f} % of the image; "
                         "a defect mask marks the defect, not the whole part")
    return mask


def crop_to_bank_mask(mask_id: int, mask: np.ndarray) -> BankMask:
    """A BankMask from a full-frame 0/255 mask: its content box, and the frame it came from."""
    rows, cols = np.nonzero(mask)
    crop = (mask[rows.min():rows.max() + 1, cols.min():cols.max() + 1] > 0).astype(np.uint8)
    return BankMask(mask_id, np.ascontiguousarray(crop), (mask.shape[1], mask.shape[0]),
                    (int(cols.min()), int(rows.min())))


# -- the workspace bank -----------------------------------------------------------------------
def _add(ws: Workspace, report: BankReport, source: Path | bytes, name: str, *, bank_source: str,
         defect: str | None, license: str | None) -> None:
    try:
        mask = decode_bank_mask(source, name)
    except DsaiiError as exc:
        report.rejected.append((Path(name).name, str(exc)))
        return
    if ws.add_bank_mask(mask, source=bank_source, license=license, defect=defect) is None:
        report.duplicates += 1
    else:
        report.added += 1


def import_bank(ws: Workspace, paths: list[Path], *, license: str | None = None, source: str | None = None,
                progress: Callable[[float], None] = lambda f: None) -> BankReport:
    """Add the masks found under `paths` (any layout `find_mask_files` knows) to the workspace bank."""
    files = [f for path in paths for f in find_mask_files(Path(path))]
    report = BankReport()
    for index, found in enumerate(files):
        _add(ws, report, found.path, str(found.path), bank_source=source or found.source, defect=found.defect,
             license=license)
        progress((index + 1) / len(files))
    return report


def add_uploaded_masks(ws: Workspace, files: list[tuple[str, bytes]], *, source: str,
                       license: str | None = None) -> BankReport:
    """Add uploaded mask files (name, bytes) to the bank under `source`."""
    report = BankReport()
    for name, data in files:
        _add(ws, report, data, Path(name).name, bank_source=source, defect=None, license=license)
    return report


def load_bank(ws: Workspace, sources: tuple[str, ...] = ()) -> list[BankMask]:
    """The workspace bank decoded once, for augmentation; only the given sources when any are named."""
    bank = []
    for row in ws.catalog.bank_masks():
        if sources and row.source not in sources:
            continue
        crop = (imageio.read_mask(ws.path(row.file)) > 0).astype(np.uint8)
        if row.frame:
            width, height, left, top = row.frame
            frame, offset = (width, height), (left, top)
        else:  # a mask added without its frame: the crop is the frame
            frame, offset = (crop.shape[1], crop.shape[0]), (0, 0)
        bank.append(BankMask(row.id, crop, frame, offset))
    return bank


def read_bank_folder(root: Path) -> tuple[list[BankMask], list[tuple[str, str]]]:
    """A bank straight from a folder (no workspace), de-duplicated, and the files refused with why."""
    bank: list[BankMask] = []
    rejected: list[tuple[str, str]] = []
    seen: set[str] = set()
    for found in find_mask_files(root):
        try:
            mask = decode_bank_mask(found.path)
        except DsaiiError as exc:
            rejected.append((found.path.name, str(exc)))
            continue
        entry = crop_to_bank_mask(len(bank), mask)
        key = sha256_bytes(entry.crop.tobytes() + repr(entry.crop.shape).encode())
        if key not in seen:
            seen.add(key)
            bank.append(entry)
    return bank, rejected
