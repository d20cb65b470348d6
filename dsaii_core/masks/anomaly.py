"""Anomaly masks: one mask (drawn, regenerated), the pieces a class's run is made of (anomaly_job), a folder.

Every normal image gets `per_image` anomaly masks from the bank or made procedurally; each mask's
random stream is keyed by (seed, image, how many masks the image has had), so a run is
reproducible, a rerun only tops images up, and regenerating one mask touches nothing else.
"""

from __future__ import annotations

import os
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from dsaii_core import imageio
from dsaii_core.catalog import ImageClass, Item, Mask
from dsaii_core.errors import DsaiiError
from dsaii_core.masks.augment import AugmentParams, BankMask, MaskResult, augment_mask
from dsaii_core.masks.bank import load_bank, read_bank_folder
from dsaii_core.masks.procedural import procedural_mask
from dsaii_core.workspace import Workspace

Progress = Callable[[float], None]
SETTINGS_KEY = "anomaly_masks"


@dataclass
class GenerationReport:
    """What a generation run did."""
    written: int = 0
    complete: int = 0
    misses: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    mask_ids: list[int] = field(default_factory=list)

    def summary(self) -> str:
        text = f"{self.written} anomaly masks written"
        if self.complete:
            text += f", {self.complete} images already had enough"
        if self.misses:
            text += f", {len(self.misses)} without a mask in the area range"
        return text


# -- parameters per class ---------------------------------------------------------------------
def class_params(cls: ImageClass) -> AugmentParams:
    """The class's saved anomaly-mask parameters over the reference defaults for its kind."""
    return AugmentParams.from_dict(cls.settings.get(SETTINGS_KEY, {}), cls.kind)


def save_class_params(ws: Workspace, cls: ImageClass, params: AugmentParams, user: str = "") -> ImageClass:
    """Remember the parameters with the class (no-op when unchanged)."""
    if cls.settings.get(SETTINGS_KEY) == params.as_dict():
        return cls
    return ws.catalog.update_class(cls, user=user, settings={**cls.settings, SETTINGS_KEY: params.as_dict()})


# -- one mask -----------------------------------------------------------------------------------
def make_mask(shape: tuple[int, int], params: AugmentParams, rng: np.random.Generator, bank: list[BankMask],
              object_mask: np.ndarray | None, texture: bool) -> MaskResult:
    """One anomaly mask by `params.source`: augmented from the bank or procedural."""
    if params.source == "bank":
        return augment_mask(bank, shape, params, rng, object_mask=object_mask, texture=texture)
    return procedural_mask(shape, params, rng, object_mask=object_mask, texture=texture)


def _miss(name: str, area: tuple[float, float], result: MaskResult) -> str:
    low, high = (100 * a for a in area)
    kept = f"kept the closest, {100 * result.area:.2f} %" if result.mask is not None else "no mask written"
    return f"{name}: no try in {result.tries} covered {low:g}–{high:g} % ({kept})"


def check_bank(ws: Workspace, params: AugmentParams) -> None:
    """Refuse bank masks when the bank has none (of the chosen sources), saying what to do."""
    if params.source != "bank":
        return
    sources = {row.source for row in ws.catalog.bank_masks()}
    if params.bank_sources and not sources & set(params.bank_sources):
        raise DsaiiError(f"the mask bank has no masks from {', '.join(params.bank_sources)}")
    if not sources:
        raise DsaiiError("the mask bank is empty: import defect masks (e.g. an MVTec AD ground_truth tree) "
                         "or choose procedural masks")


class MaskMaker:
    """Makes anomaly masks for the images of one class: bank decoded once, object masks looked up."""

    def __init__(self, ws: Workspace, cls: ImageClass, params: AugmentParams, user: str = ""):
        self.ws, self.cls, self.params, self.user = ws, cls, params, user
        check_bank(ws, params)
        self.bank = load_bank(ws, params.bank_sources) if params.source == "bank" else []
        self.without_object_mask: list[str] = []

    def object_mask(self, item: Item) -> np.ndarray | None:
        if self.cls.is_texture:
            return None
        row = self.ws.object_mask(item)
        if row is None:
            self.without_object_mask.append(Path(item.file).name)
            return None
        return self.ws.read_mask(row)

    def draw(self, item: Item, history: int) -> tuple[list[int], MaskResult]:
        """The mask of random stream number `history` (= masks `item` had so far), not stored: (stream, result)."""
        key = [self.params.seed, item.id, history]
        rng = np.random.default_rng(key)
        return key, make_mask((item.height, item.width), self.params, rng, self.bank, self.object_mask(item),
                              self.cls.is_texture)

    def make(self, item: Item, report: GenerationReport, replaces: int | None = None) -> Mask | None:
        """Write one new anomaly mask for `item` (replacing mask `replaces`), recording misses in `report`."""
        history = len(self.ws.catalog.masks(item_id=item.id, kind="anomaly", active_only=False))
        return store_mask(self.ws, item, self.params, *self.draw(item, history), report, replaces, self.user)

    def finish(self, report: GenerationReport) -> GenerationReport:
        if self.without_object_mask:
            report.notes.append(without_object_mask_note(self.without_object_mask))
        return report


def store_mask(ws: Workspace, item: Item, params: AugmentParams, stream: list[int], result: MaskResult,
               report: GenerationReport, replaces: int | None = None, user: str = "") -> Mask | None:
    """Write a drawn anomaly mask for `item` (replacing mask `replaces`), recording a miss in `report`."""
    if not result.fitted:
        report.misses.append(_miss(Path(item.file).name, params.area, result))
    if result.mask is None:
        return None
    row = ws.add_mask(item, result.mask, kind="anomaly", source=params.source, seed=params.seed, replaces=replaces,
                      user=user, params={**params.as_dict(), "stream": stream, "tries": result.tries,
                                         "fitted": result.fitted, **result.detail})
    report.written += 1
    report.mask_ids.append(row.id)
    return row


def without_object_mask_note(names: list[str]) -> str:
    """The report's note on images whose masks could go anywhere (no object mask to stay inside)."""
    names = sorted(set(names))
    return (f"{len(names)} images have no object mask, so the whole image was used: "
            + ", ".join(names[:5]) + (" …" if len(names) > 5 else ""))


def normal_images(ws: Workspace, cls: ImageClass) -> list[Item]:
    """The curated (kept) normal images of a class."""
    return ws.catalog.items(class_id=cls.id, role="normal", statuses=("kept",))


def regenerate_mask(ws: Workspace, mask: Mask, params: AugmentParams, user: str = "") -> GenerationReport:
    """Replace one anomaly mask by a new one from the next random stream of its image (undo restores it)."""
    item = ws.catalog.item(mask.item_id)
    maker = MaskMaker(ws, ws.catalog.class_by_id(item.class_id), params, user)
    report = GenerationReport()
    maker.make(item, report, replaces=mask.id)
    return maker.finish(report)


def save_drawn_mask(ws: Workspace, item: Item, mask: np.ndarray, replaces: int | None = None,
                    user: str = "") -> Mask:
    """Store a mask drawn by hand (optionally replacing an existing anomaly mask)."""
    if not np.any(mask):
        raise DsaiiError("the drawn mask is empty: paint the defect area before saving")
    return ws.add_mask(item, mask, kind="anomaly", source="drawn", replaces=replaces, user=user)


def anomaly_masks(ws: Workspace, cls: ImageClass) -> list[tuple[Item, Mask]]:
    """Active anomaly masks of the class's kept normal images, image by image."""
    images = {item.id: item for item in normal_images(ws, cls)}
    return [(images[m.item_id], m) for m in ws.catalog.masks(kind="anomaly", class_id=cls.id) if m.item_id in images]


def delete_anomaly_masks(ws: Workspace, cls: ImageClass, user: str = "") -> int:
    """Deactivate every anomaly mask of the class's normal images as one undo step; returns how many."""
    rows = anomaly_masks(ws, cls)
    with ws.catalog.one_action([cls.id], user, "anomaly_mask", "deleted the class's anomaly masks"):
        for _, mask in rows:
            ws.catalog.delete_mask(mask.id, user)
    return len(rows)


# -- the reference script's folders ---------------------------------------------------------------
@dataclass
class FolderReport:
    """What `gen_masks_folder` wrote."""
    written: int = 0
    misses: list[str] = field(default_factory=list)
    rejected_bank: list[tuple[str, str]] = field(default_factory=list)
    bank_size: int = 0

    def summary(self) -> str:
        text = f"{self.written} masks written from a bank of {self.bank_size}"
        if self.misses:
            text += f", {len(self.misses)} without a fitting try (closest kept)"
        if self.rejected_bank:
            text += f", {len(self.rejected_bank)} bank files refused"
        return text


def gen_mask_file(path: Path, bank: list[BankMask], out: Path, textures: tuple[str, ...] = (),
                  seed: int = 0) -> tuple[str, MaskResult]:
    """One object mask file of the reference layout (`<class>/<image>.png`, 255 = background) to its
    anomaly mask, written under `out` with the same relative name; returns that name and the result."""
    name = f"{path.parent.name}/{path.name}"
    texture = path.parent.name in textures
    background = imageio.read_mask(path, name)
    # The stream depends only on the seed and the file's name: same masks in any order, on any machine.
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    result = augment_mask(bank, background.shape, AugmentParams.defaults_for("texture" if texture else "object"),
                          rng, object_mask=background == 0, texture=texture)
    if result.mask is not None:
        imageio.write_png(out / path.parent.name / path.name, result.mask, compress_level=1)
    return name, result


def gen_masks_files(files: list[Path], bank: list[BankMask], out: Path, textures: tuple[str, ...] = (),
                    seed: int = 0, progress: Progress = lambda f: None, workers: int | None = None) -> FolderReport:
    """`gen_mask_file` for many files on a few threads (decoding, warping and encoding release the GIL)."""
    report = FolderReport(bank_size=len(bank))
    workers = workers or min(4, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        jobs = [pool.submit(gen_mask_file, path, bank, out, textures, seed) for path in files]
        for index, job in enumerate(jobs):
            name, result = job.result()
            if not result.fitted:
                kind = "texture" if name.split("/")[0] in textures else "object"
                report.misses.append(_miss(name, AugmentParams.defaults_for(kind).area, result))
            report.written += result.mask is not None
            progress((index + 1) / len(files))
    return report


def gen_masks_folder(objects: Path, bank_root: Path, out: Path, textures: tuple[str, ...] = (), seed: int = 0,
                     progress: Progress = lambda f: None) -> FolderReport:
    """The reference gen_mask.py on folders: `objects/<class>/<image>.png` object masks (255 = background,
    SAM's convention) in, anomaly masks under the same names in `out`; classes named in `textures`
    ignore the object mask and use the texture rule. Deterministic for `seed`.
    """
    files = sorted(p for p in Path(objects).glob("*/*.png") if p.is_file())
    if not files:
        raise DsaiiError(f"{objects}: no object masks found (expected <class>/<image>.png)")
    bank, rejected = read_bank_folder(Path(bank_root))
    if not bank:
        raise DsaiiError(f"{bank_root}: no usable defect masks found (expected <category>/ground_truth/<defect>/*.png)")
    report = gen_masks_files(files, bank, Path(out), textures, seed, progress)
    report.rejected_bank = rejected
    return report
