"""Object masks for a workspace: generate, review order, fix (pick, prompt), accept, export candidates.

Every change is a new active object mask (`ws.add_mask(kind='object')`), so `catalog.undo()`
brings the previous one back. Candidates of an image are cached in the workspace cache as
`.npz` (bit-packed masks, no pickles), so the page can offer them again instantly and an
interrupted run resumes cheaply.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from dsaii_core import imageio
from dsaii_core.atomic import atomic_write_bytes, atomic_write_text
from dsaii_core.catalog import ImageClass, Item, Mask
from dsaii_core.errors import DsaiiError
from dsaii_core.masks import editor, grabcut, select
from dsaii_core.masks.select import Candidate, Prompt
from dsaii_core.workspace import Workspace

if TYPE_CHECKING:  # SAM pulls in torch; the weight-free path must not pay for it
    from dsaii_core.masks.sam import SamBackend
    from dsaii_core.masks.sam_config import AutoParams, SamConfig

METHODS = ("auto", "sam", "grabcut")
CLASSICAL_VERSION = "classical-2"  # the weight-free candidates (a new version: cached ones are redone)
# SamAutomaticMaskGenerator's metadata.csv columns (segment-anything scripts/amg.py), which the
# reference's scripts read.
METADATA_HEADER = ("id,area,bbox_x0,bbox_y0,bbox_w,bbox_h,point_input_x,point_input_y,predicted_iou,"
                   "stability_score,crop_box_x0,crop_box_y0,crop_box_w,crop_box_h")


@dataclass(frozen=True)
class ObjectMaskParams:
    """How to make object masks: method (auto = SAM when a backend is given, else GrabCut) and selection rule."""
    method: str = "auto"
    rule: str = "objectness"
    redo: bool = False
    sam: "AutoParams | None" = None

    def __post_init__(self):
        if self.method not in METHODS:
            raise DsaiiError(f"method must be one of {', '.join(METHODS)}, not '{self.method}'")
        if self.rule not in select.RULES:
            raise DsaiiError(f"rule must be one of {', '.join(select.RULES)}, not '{self.rule}'")


@dataclass
class ObjectMaskReport:
    """What a generation run did for one class."""
    cls: str
    method: str
    written: int = 0
    skipped: int = 0
    doubtful: int = 0
    fills_frame: bool = False
    note: str = ""

    def summary(self) -> str:
        if self.note:
            return f"{self.cls}: {self.note}"
        text = (f"{self.cls}: {self.written} object masks ({self.method}), {self.doubtful} doubtful, "
                f"{self.skipped} already had one")
        return text + (" · the object fills the frame in most images" if self.fills_frame else "")


@dataclass(frozen=True)
class ReviewRow:
    """An image of the review grid: its active object mask (or None) and that mask's confidence."""
    item: Item
    mask: Mask | None

    @property
    def confidence(self) -> float:
        if self.mask is None:
            return -1.0
        return 1.0 if self.mask.confidence is None else float(self.mask.confidence)

    @property
    def accepted(self) -> bool:
        return self.mask is not None and bool(self.mask.params.get("accepted"))


# -- candidates ---------------------------------------------------------------------------------
def method_for(params: ObjectMaskParams, sam: "SamBackend | SamConfig | None") -> str:
    """The method a run uses: 'sam' when asked for (or auto) and SAM is there (loaded, or configured for a job),
    else 'grabcut'; refuses 'sam' without SAM."""
    if params.method == "sam" and sam is None:
        raise DsaiiError("method 'sam' needs a SAM checkpoint (settings, DSAII_SAM_CHECKPOINT or --sam-checkpoint)")
    return "sam" if params.method in ("sam", "auto") and sam is not None else "grabcut"


def _cache_path(ws: Workspace, item: Item, key: str) -> Path:
    return ws.cache_dir / "object_candidates" / f"{item.sha256[:20]}-{key}.npz"


def _save_candidates(path: Path, candidates: list[Candidate]) -> None:
    masks = np.stack([c.mask for c in candidates])
    buffer = io.BytesIO()
    nan = float("nan")
    np.savez_compressed(
        buffer, shape=np.asarray(masks.shape), bits=np.packbits(masks.reshape(len(candidates), -1), axis=1),
        source=np.asarray([c.source for c in candidates]), inverted=np.asarray([c.inverted for c in candidates]),
        predicted_iou=np.asarray([nan if c.predicted_iou is None else c.predicted_iou for c in candidates]),
        stability=np.asarray([nan if c.stability is None else c.stability for c in candidates]),
        point=np.asarray([(nan, nan) if c.point is None else c.point for c in candidates], np.float64))
    atomic_write_bytes(path, buffer.getvalue())


def _load_candidates(path: Path) -> list[Candidate] | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            count, height, width = (int(v) for v in data["shape"])
            masks = np.unpackbits(data["bits"], axis=1, count=height * width).reshape(count, height, width) > 0
            value = lambda v: None if np.isnan(v) else float(v)  # noqa: E731
            return [Candidate(mask=masks[k], source=str(data["source"][k]), inverted=bool(data["inverted"][k]),
                              predicted_iou=value(data["predicted_iou"][k]), stability=value(data["stability"][k]),
                              point=None if np.isnan(data["point"][k][0]) else tuple(map(float, data["point"][k])))
                    for k in range(count)]
    except (OSError, ValueError, KeyError):
        return None  # absent or damaged: recompute


def image_candidates(image: np.ndarray, backend: "SamBackend | None", params: ObjectMaskParams) -> list[Candidate]:
    """Candidates for one image (SAM's automatic masks, or the weight-free ones), plus the whole frame."""
    if method_for(params, backend) == "sam":
        from dsaii_core.masks.sam_config import AutoParams
        found = backend.automatic(image, params.sam or AutoParams())
    else:
        found = grabcut.candidates(image)
    return [*found, select.frame(image.shape[:2])]


def item_candidates(ws: Workspace, item: Item, backend: "SamBackend | None",
                    params: ObjectMaskParams = ObjectMaskParams()) -> list[Candidate]:
    """Candidates for a workspace image, from the cache when computed before with the same method."""
    if method_for(params, backend) == "sam":
        settings = repr(sorted(asdict(params.sam).items())) if params.sam is not None else "default"
        key = f"sam-{backend.key}-{hashlib.sha256(settings.encode()).hexdigest()[:8]}"
    else:
        key = CLASSICAL_VERSION
    path = _cache_path(ws, item, key)
    cached = _load_candidates(path) if path.is_file() else None
    if cached is not None and cached[0].mask.shape == (item.height, item.width):
        return cached
    found = image_candidates(ws.read_image(item), backend, params)
    _save_candidates(path, found)
    return found


# -- generation ---------------------------------------------------------------------------------
def object_items(ws: Workspace, cls: ImageClass) -> list[Item]:
    """The curated (kept) normal images of a class: those that get an object mask."""
    return ws.catalog.items(class_id=cls.id, role="normal", statuses=("kept",))


# -- review and fixes ---------------------------------------------------------------------------
def review_rows(ws: Workspace, cls: ImageClass) -> list[ReviewRow]:
    """The class's images with their object masks, those needing a look first (none, then least confident)."""
    rows = [ReviewRow(item, ws.object_mask(item)) for item in object_items(ws, cls)]
    return sorted(rows, key=lambda r: (r.accepted, r.confidence, r.item.id))


def current_mask(ws: Workspace, item: Item) -> np.ndarray | None:
    """The active object mask of an image (uint8 0/255), or None."""
    mask = ws.object_mask(item)
    return ws.read_mask(mask) if mask is not None else None


def save_fix(ws: Workspace, item: Item, mask: np.ndarray, source: str, user: str = "",
             params: dict | None = None) -> Mask:
    """Store a mask the user made or chose as the image's object mask (undoable); it counts as reviewed."""
    return ws.add_mask(item, mask, kind="object", source=source, confidence=1.0, user=user,
                       params={"accepted": True, **(params or {})})


def accept(ws: Workspace, item: Item, user: str = "") -> Mask:
    """Mark the image's current object mask as checked by a person (a reviewed copy, undoable)."""
    mask = ws.object_mask(item)
    if mask is None:
        raise DsaiiError(f"{item.file} has no object mask to accept yet")
    if mask.params.get("accepted"):
        return mask
    return save_fix(ws, item, ws.read_mask(mask), mask.source, user, {"accepted_from": mask.id})


def pick_candidate(ws: Workspace, item: Item, candidates: list[Candidate], index: int, inverted: bool = False,
                   user: str = "") -> Mask:
    """Make candidate `index` (or its inverse) the image's object mask."""
    if not 0 <= index < len(candidates):
        raise DsaiiError(f"there is no candidate {index} (0–{len(candidates) - 1})")
    candidate = candidates[index].inverse() if inverted else candidates[index]
    return save_fix(ws, item, candidate.mask, f"pick:{candidate.source}", user,
                    {"candidate": index, "inverted": candidate.inverted})


def prompt_mask(ws: Workspace, item: Item, prompt: Prompt, backend: "SamBackend | None", refine: bool,
                base: np.ndarray | None = None) -> list[Candidate]:
    """Masks for clicks / a box, best first: SAM when loaded, else GrabCut seeded by them (editor.answer_prompt,
    what the mask editor's prompts get).

    With `refine`, `base` (default: the active mask) is improved rather than replaced: SAM gets
    it as mask_input, GrabCut starts from it.
    """
    image = ws.read_image(item)
    if refine and base is None:
        base = current_mask(ws, item)
    if prompt.empty and base is None:
        raise DsaiiError("click on the image (or draw a box) first")
    if backend is not None:
        return backend.predict(image, prompt, mask=base if refine else None)
    return [editor.answer_prompt(image, prompt, None, base if refine else None)]


def mark_texture(ws: Workspace, cls: ImageClass, user: str = "") -> ImageClass:
    """Make the class a texture class (the whole image is the texture: no object masks; undoable)."""
    return ws.catalog.update_class(cls, user=user, kind="texture")


# -- candidates in the reference layout -----------------------------------------------------------
def export_candidates(ws: Workspace, cls: ImageClass, out: Path, backend: "SamBackend | None" = None,
                      params: ObjectMaskParams = ObjectMaskParams(),
                      progress: Callable[[float], None] = lambda f: None) -> int:
    """Write each image's candidates as `<out>/<class>/<image>/<k>.png` + `metadata.csv` (SAM amg.py's layout).

    The whole-frame candidate is left out (it is ours, not SAM's). Returns the number of images written.
    """
    items = object_items(ws, cls)
    for index, item in enumerate(items):
        folder = Path(out) / cls.dirname / Path(item.file).stem
        height, width = item.height, item.width
        rows = [METADATA_HEADER]
        candidates = [c for c in item_candidates(ws, item, backend, params) if c.source != "frame"]
        for k, candidate in enumerate(candidates):
            imageio.write_png(folder / f"{k}.png", imageio.binarize(candidate.mask))
            point = candidate.point or (width / 2, height / 2)
            numbers = [k, candidate.area, *candidate.bbox(), *point,
                       candidate.predicted_iou if candidate.predicted_iou is not None else float("nan"),
                       candidate.stability if candidate.stability is not None else float("nan"),
                       0, 0, width, height]
            rows.append(",".join(str(v) for v in numbers))
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(folder / "metadata.csv", "\n".join(rows))
        progress((index + 1) / max(1, len(items)))
    return len(items)


def read_metadata(path: Path) -> list[dict[str, str]]:
    """Rows of a metadata.csv written by export_candidates (or by SAM's amg.py)."""
    return list(csv.DictReader(io.StringIO(path.read_text())))
