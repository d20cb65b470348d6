"""The mask editor's Python side: what goes to the browser and what comes back, checked before it is used.

The editor (app_pages/mask_editor) keeps a mask as a full-resolution bitmap in the browser and edits it there;
nothing is resized or smoothed on the way in or out, so what was drawn is what is saved, pixel for pixel. A mask
travels either way as its bits packed row by row (numpy.packbits order, most significant bit first), deflated
(zlib) and base64-encoded: lossless, and small for the shapes people draw. Click prompts come back as points and a
box in image pixels; `answer_prompt` turns them into a mask with SAM when it is loaded, else with GrabCut.
"""

from __future__ import annotations

import base64
import binascii
import math
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import cv2
import numpy as np

from dsaii_core import imageio
from dsaii_core.errors import DsaiiError
from dsaii_core.masks import grabcut
from dsaii_core.masks.select import Candidate, Prompt

if TYPE_CHECKING:  # SAM pulls in torch; the weight-free path must not pay for it
    from dsaii_core.masks.sam import SamBackend

ENCODINGS = ("bits+deflate", "bits")  # "bits": a browser without CompressionStream sends them uncompressed
MAX_POINTS = 100  # per kind; a person clicks a handful
CONTEXT = 0.5  # around a box, GrabCut also sees this share of the box's longer side (at least MIN_CONTEXT px)
MIN_CONTEXT = 24
FIRST_GUESS_ITERATIONS = 2  # GrabCut's guess from clicks alone is only a start for the real pass


def encode_mask(mask: np.ndarray) -> dict[str, Any]:
    """A mask (H×W, non-zero = inside) as the editor reads it: {width, height, encoding, data}."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"expected an H×W mask, got shape {mask.shape}")
    bits = np.packbits(mask > 0, axis=None)
    return {"width": int(mask.shape[1]), "height": int(mask.shape[0]), "encoding": "bits+deflate",
            "data": base64.b64encode(zlib.compress(bits.tobytes(), 6)).decode("ascii")}


def decode_editor_mask(payload: Any, shape: tuple[int, int]) -> np.ndarray:
    """The uint8 0/255 mask the editor sent, for an image of `shape` = (height, width); DsaiiError otherwise.

    A payload of another size, a damaged one, or one that inflates beyond the image's bit count (a deflate
    bomb) is refused with a message saying why: nothing is resized to fit.
    """
    height, width = (int(v) for v in shape)
    if not isinstance(payload, dict):
        raise DsaiiError("the editor sent no mask: not saved")
    size = (payload.get("width"), payload.get("height"))
    if size != (width, height):
        got = "×".join(str(v) for v in size) if all(isinstance(v, int) for v in size) else "a malformed"
        raise DsaiiError(f"the editor sent a {got} mask for a {width}×{height} image: not saved")
    encoding = payload.get("encoding")
    if encoding not in ENCODINGS:
        raise DsaiiError(f"the editor sent a mask in an unknown encoding ({encoding!r}): not saved")
    expected = (height * width + 7) // 8
    try:
        raw = base64.b64decode(str(payload.get("data", "")), validate=True)
        if encoding == "bits+deflate":
            inflater = zlib.decompressobj()
            raw = inflater.decompress(raw, expected + 1)  # never more than the image needs
            if not inflater.eof or inflater.unconsumed_tail:
                raise DsaiiError("the editor's mask does not match its size: not saved")
    except (binascii.Error, ValueError, zlib.error) as exc:
        raise DsaiiError(f"the editor's mask is damaged ({exc}): not saved") from exc
    if len(raw) != expected:
        raise DsaiiError(f"the editor's mask holds {8 * len(raw)} bits, not the {height * width} of a "
                         f"{width}×{height} image: not saved")
    bits = np.unpackbits(np.frombuffer(raw, np.uint8), count=height * width)
    return imageio.binarize(bits.reshape(height, width).astype(bool))


def image_data_url(image: np.ndarray) -> str:
    """The image as a PNG data URL: lossless, so the editor shows every pixel as it is on disk."""
    png = imageio.encode_png(np.asarray(image), compress_level=1)
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


@dataclass(frozen=True)
class PromptRequest:
    """Clicks / a box the editor sent (image pixels), its id, and the mask to improve (None: start afresh)."""
    id: str
    prompt: Prompt
    base: np.ndarray | None = None


def _points(value: Any, width: int, height: int, what: str) -> list[tuple[float, float]]:
    if not isinstance(value, list) or len(value) > MAX_POINTS:
        raise DsaiiError(f"the editor sent malformed {what}")
    points = []
    for point in value:
        try:
            x, y = (float(v) for v in point)
        except (TypeError, ValueError) as exc:
            raise DsaiiError(f"the editor sent malformed {what}") from exc
        if not (math.isfinite(x) and math.isfinite(y) and 0 <= x <= width and 0 <= y <= height):
            raise DsaiiError(f"the editor sent {what} outside the {width}×{height} image")
        points.append((x, y))
    return points


def read_prompt(payload: Any, shape: tuple[int, int]) -> PromptRequest:
    """The prompt the editor sent for an image of `shape`, checked (points inside the image, a real box)."""
    height, width = shape
    if not isinstance(payload, dict):
        raise DsaiiError("the editor sent no prompt")
    box = payload.get("box")
    if box is not None:
        (x0, y0), (x1, y1) = _points([box[:2], box[2:]] if isinstance(box, list) and len(box) == 4 else None,
                                     width, height, "a box")
        box = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
        if box[2] - box[0] < 2 or box[3] - box[1] < 2:
            box = None  # a click, not a box
    prompt = Prompt(positive=_points(payload.get("positive", []), width, height, "object points"),
                    negative=_points(payload.get("negative", []), width, height, "background points"), box=box)
    base = payload.get("base")
    base = decode_editor_mask(base, shape) if base is not None else None
    if prompt.empty and base is None:
        raise DsaiiError("click on the image (or draw a box) first")
    return PromptRequest(id=str(payload.get("id", "")), prompt=prompt, base=base)


def answer_prompt(image: np.ndarray, prompt: Prompt, backend: "SamBackend | None" = None,
                  base: np.ndarray | None = None) -> Candidate:
    """The mask for clicks and / or a box: SAM's best when a backend is loaded, else GrabCut's.

    With `base`, that mask is improved rather than replaced (SAM's mask_input; GrabCut starts from it).
    GrabCut works around a box (the box and some context, at full resolution when that is small enough,
    so a small defect is not lost to downscaling) or on the whole image at grabcut.WORK_SIDE; a downscaled
    result gets its outline refined at full resolution (grabcut.refine_edges).
    """
    if backend is not None:
        return backend.predict(image, prompt, mask=base)[0]
    height, width = image.shape[:2]
    x0, y0, x1, y1 = 0, 0, width, height
    if prompt.box is not None:
        bx0, by0, bx1, by1 = prompt.box
        margin = max(MIN_CONTEXT, CONTEXT * max(bx1 - bx0, by1 - by0))
        x0, y0 = max(0, math.floor(bx0 - margin)), max(0, math.floor(by0 - margin))
        x1, y1 = min(width, math.ceil(bx1 + margin)), min(height, math.ceil(by1 + margin))
    crop = np.ascontiguousarray(image[y0:y1, x0:x1])
    shift = lambda points: [(x - x0, y - y0) for x, y in points]  # noqa: E731
    positive, negative = shift(prompt.positive), shift(prompt.negative)
    box = None if prompt.box is None else (prompt.box[0] - x0, prompt.box[1] - y0, prompt.box[2] - x0,
                                           prompt.box[3] - y0)
    init = None if base is None else base[y0:y1, x0:x1]
    if init is None and box is None and positive:  # clicks alone: a quick first guess from them, then improve it
        init = grabcut.grabcut(crop, positive=positive, negative=negative, iterations=FIRST_GUESS_ITERATIONS)
    found = grabcut.grabcut(crop, box=box, init_mask=init, positive=positive, negative=negative)
    scale = min(1.0, grabcut.WORK_SIDE / max(crop.shape[:2]))
    if scale < 1.0 and found.any() and not found.all():
        found = grabcut.refine_edges(crop, found, scale)
        found &= ~_discs(found.shape, negative, grabcut.click_radius(crop.shape[:2]))  # a background click wins
    mask = np.zeros((height, width), bool) if base is None else np.asarray(base) > 0
    mask[y0:y1, x0:x1] = found
    return Candidate(mask=mask, source="grabcut-refine" if base is not None else "grabcut-prompt")


def _discs(shape: tuple[int, int], points: list[tuple[float, float]], radius: int) -> np.ndarray:
    """Bool mask of filled discs of `radius` px around `points`."""
    discs = np.zeros(shape, np.uint8)
    for x, y in points:
        cv2.circle(discs, (round(x), round(y)), radius, 1, -1)
    return discs > 0


def save_reply(payload: Any, shape: tuple[int, int], save: Callable[[np.ndarray], None]) -> dict[str, Any]:
    """Store what the editor's Save sent (via `save(mask)`) and say so: {"saved": token}, or {"failed": {token,
    message}} when the mask is refused (wrong size, damaged) or `save` raises a DsaiiError (say, an empty mask)."""
    payload = payload if isinstance(payload, dict) else {}
    try:
        save(decode_editor_mask(payload.get("mask"), shape))
    except DsaiiError as exc:
        return {"saved": None, "failed": {"token": payload.get("token"), "message": str(exc)}}
    return {"saved": payload.get("token"), "failed": None}


def prompt_reply(payload: Any, shape: tuple[int, int],
                 answer: Callable[[PromptRequest], np.ndarray]) -> dict[str, Any]:
    """The editor's answer to a prompt: {"id", "mask"} from `answer(request)`, or {"id", "error"} when the
    prompt is refused or cannot be answered."""
    payload = payload if isinstance(payload, dict) else {}
    try:
        request = read_prompt(payload, shape)
        return {"id": request.id, "mask": encode_mask(answer(request))}
    except DsaiiError as exc:
        return {"id": str(payload.get("id", "")), "error": str(exc)}
