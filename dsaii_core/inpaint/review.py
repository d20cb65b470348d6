"""Review of synthetic anomalies: accept / reject / regenerate, bulk accept by QC, per-class progress.

Every decision is one `catalog.set_status` transaction logged with who and when (so `catalog.undo`
reverts it, and two reviewers of one class never overwrite each other: nobody saves a list, each
click changes one row). Only accepted anomalies are exported.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from dsaii_core import imageio
from dsaii_core.catalog import ImageClass, Item, Mask
from dsaii_core.errors import DsaiiError
from dsaii_core.inpaint.base import InpaintParams
from dsaii_core.inpaint.generate import start_inpaint_job
from dsaii_core.inpaint.qc import FLAG_LABELS
from dsaii_core.jobs import Job, run_job, start_worker
from dsaii_core.overlay import overlay_mask
from dsaii_core.workspace import Workspace

SYNTHETIC = "inpaint:"
DECISIONS = ("accepted", "rejected", "pending")
REVIEWABLE = ("pending", "accepted", "rejected")


@dataclass(frozen=True)
class Tile:
    """One synthetic anomaly with what a reviewer compares it to."""
    anomaly: Item
    normal: Item
    mask: Mask | None
    class_name: str

    @property
    def backend(self) -> str:
        return self.anomaly.origin.removeprefix(SYNTHETIC)

    @property
    def qc(self) -> dict:
        return self.anomaly.info.get("qc", {})

    @property
    def flags(self) -> tuple[str, ...]:
        return tuple(self.qc.get("flags", ()))

    @property
    def passed(self) -> bool:
        return bool(self.qc) and not self.flags

    @property
    def source_text(self) -> str:
        """Where a transplanted real defect came from (class, item, file, defect), or '' for a painted one."""
        source = self.qc.get("source")
        if not source:
            return ""
        other = ", another class" if source.get("class") != self.class_name else ""
        name = source.get("file", "").rsplit("/", 1)[-1]
        return (f"real defect '{source.get('defect') or '?'}' from {source.get('class')} "
                f"#{source.get('item_id')} ({name}){other}")

    def qc_text(self) -> str:
        if not self.qc:
            return "no QC figures"
        if self.qc.get("inside_mad") is None:
            return ", ".join(FLAG_LABELS.get(f, f) for f in self.flags)
        text = f"Δ in {self.qc['inside_mad']:.1f} / out {self.qc['outside_mad']:.2f}, SSIM in {self.qc['inside_ssim']:.2f}"
        return text + (" · " + ", ".join(FLAG_LABELS.get(f, f) for f in self.flags) if self.flags else " · QC passed")


def tiles(ws: Workspace, class_id: int | None = None, statuses: tuple[str, ...] = ("pending",),
          flag: str | None = None, backend: str | None = None) -> list[Tile]:
    """Synthetic anomalies to review, oldest first. `flag`: a QC flag, 'passed' or 'flagged'."""
    classes = {c.id: c.name for c in ws.catalog.classes()}
    found = []
    for item in ws.catalog.items(class_id=class_id, role="anomaly", statuses=statuses):
        if not item.origin.startswith(SYNTHETIC) or item.parent_id is None:
            continue
        tile = Tile(item, ws.catalog.item(item.parent_id),
                    ws.catalog.mask(item.mask_id) if item.mask_id is not None else None, classes[item.class_id])
        if backend is not None and tile.backend != backend:
            continue
        if flag == "passed" and not tile.passed or flag == "flagged" and tile.passed:
            continue
        if flag not in (None, "passed", "flagged") and flag not in tile.flags:
            continue
        found.append(tile)
    return found


def tile_strip(ws: Workspace, tile: Tile, size: int = 256) -> np.ndarray:
    """normal | anomaly | anomaly with its mask outlined, side by side, each at most `size` px."""
    normal, anomaly = ws.read_image(tile.normal), ws.read_image(tile.anomaly)
    shown = overlay_mask(anomaly, ws.read_mask(tile.mask)) if tile.mask else anomaly
    parts = [imageio.thumbnail(a, size) for a in (normal, anomaly, shown)]
    height = max(p.shape[0] for p in parts)
    gap = np.full((height, max(2, size // 64), 3), 255, np.uint8)
    padded = [np.pad(p, ((0, height - p.shape[0]), (0, 0), (0, 0)), constant_values=255) for p in parts]
    return np.concatenate([padded[0], gap, padded[1], gap, padded[2]], axis=1)


def decide(ws: Workspace, item_ids: list[int], decision: str, user: str = "") -> int:
    """Accept, reject or reset synthetic anomalies (one logged transaction); returns how many changed."""
    if decision not in DECISIONS:
        raise DsaiiError(f"a review decision is one of {', '.join(DECISIONS)}, not '{decision}'")
    for item_id in item_ids:
        item = ws.catalog.item(item_id)
        if item.role != "anomaly" or not item.origin.startswith(SYNTHETIC):
            raise DsaiiError(f"item {item_id} is not a synthetic anomaly")
    return ws.catalog.set_status(item_ids, decision, user=user)


def accept_passing_qc(ws: Workspace, class_id: int | None = None, user: str = "") -> int:
    """Accept every pending synthetic anomaly whose QC passed; returns how many."""
    ids = [t.anomaly.id for t in tiles(ws, class_id, ("pending",), flag="passed")]
    return ws.catalog.set_status_batch({"accepted": ids}, user=user) if ids else 0  # one undo reverts it all


def regenerate(ws: Workspace, item_id: int, *, user: str = "", prompt: str | None = None,
               strength: float | None = None, seed: int | None = None, run_now: bool | None = None) -> Job:
    """Inpaint the same (normal, mask) pair again with a new seed; the old result is rejected when it lands.

    Weight-free backends run at once in this process (`run_now` default); diffusion backends get a
    background worker.
    """
    item = ws.catalog.item(item_id)
    if not item.origin.startswith(SYNTHETIC) or item.mask_id is None:
        raise DsaiiError(f"item {item_id} is not a synthetic anomaly with a mask")
    backend = item.origin.removeprefix(SYNTHETIC)
    params = InpaintParams.from_dict(item.info.get("params", {}))
    if strength is not None:
        params = params.replace(strength=strength)
    cls = ws.catalog.class_by_id(item.class_id)
    job = start_inpaint_job(ws, [cls], backend, options=item.info.get("options", {}), params=params,
                            prompt=prompt or item.info.get("prompt"), negative_prompt=item.info.get("negative_prompt"),
                            seed=seed if seed is not None else (item.seed or 0) + 1,
                            masks=[ws.catalog.mask(item.mask_id)], replaces={item.mask_id: item.id}, user=user)
    if run_now if run_now is not None else backend == "classical":
        return run_job(ws, job.id)
    start_worker(ws, job.id)
    return job


@dataclass(frozen=True)
class ClassProgress:
    name: str
    target: int
    accepted: int
    pending: int
    rejected: int

    @property
    def fraction(self) -> float:
        return min(1.0, self.accepted / self.target) if self.target else 0.0

    def as_dict(self) -> dict:
        return asdict(self)


def class_target(ws: Workspace, cls: ImageClass) -> int:
    """How many accepted anomalies the class aims for: its setting, else one per anomaly mask."""
    if "anomaly_target" in cls.settings:
        return int(cls.settings["anomaly_target"])
    kept = {i.id for i in ws.catalog.items(class_id=cls.id, role="normal", statuses=("kept",))}
    return sum(1 for m in ws.catalog.masks(class_id=cls.id, kind="anomaly") if m.item_id in kept)


def set_target(ws: Workspace, cls: ImageClass, target: int, user: str = "") -> ImageClass:
    if target < 0:
        raise DsaiiError("the target cannot be negative")
    return ws.catalog.update_class(cls, user=user, settings={**cls.settings, "anomaly_target": int(target)})


def class_progress(ws: Workspace) -> list[ClassProgress]:
    """Per class: synthetic anomalies accepted / pending / rejected, against the target."""
    out = []
    for cls in ws.catalog.classes():
        counts = {s: 0 for s in REVIEWABLE}
        for item in ws.catalog.items(class_id=cls.id, role="anomaly", statuses=REVIEWABLE):
            if item.origin.startswith(SYNTHETIC):
                counts[item.status] += 1
        out.append(ClassProgress(cls.name, class_target(ws, cls), counts["accepted"], counts["pending"],
                                 counts["rejected"]))
    return out
