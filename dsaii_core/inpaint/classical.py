"""Weight-free defect synthesis: the embedded default, so the app works with no model at all.

None of these is diffusion, and the UI says so:
- transplant: real defect texture cut from a workspace's real anomalies (e.g. imported MVTec /
  BSData / magnetic-tile test defects), colour-matched to the target surface and blended into the
  mask with Poisson image editing (`cv2.seamlessClone`), as in NSA / CutPaste-style synthesis;
- texture: DRAEM-style blending of an augmented foreign texture inside the mask;
- procedural: shattered fragments with cracks, holes with a lit rim, or stains, shaded by depth.
The prompt is ignored. Results are deterministic for a seed. Every changed pixel lies inside the
mask (`paste_outside`), and a transplant says which real defect it used (`source_for`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from dsaii_core.errors import DsaiiError
from dsaii_core.inpaint.base import InpaintParams, InpaintRequest, check_pair, inpaint_each, paste_outside
from dsaii_core.inpaint.crop import mask_bbox

METHODS = ("transplant", "texture", "procedural")
METHOD_LABELS = {
    "transplant": "Defect transplant (real defect texture + Poisson blending; not diffusion)",
    "texture": "DRAEM-style texture blending (not diffusion)",
    "procedural": "Procedural damage: cracks, holes, stains (not diffusion)",
}
POISSON_PAD = 8
SURFACE_PX = 8  # the surface a defect sits on: this close around its mask
WINDOW_PX = 2 * SURFACE_PX  # a transplant works on the mask's box grown by this: it sees no further


def mask_window(mask: np.ndarray, margin: int = WINDOW_PX) -> tuple[slice, slice]:
    """(rows, cols) of the mask's bounding box grown by `margin` px, clipped to the image."""
    x0, y0, x1, y1 = mask_bbox(mask)
    height, width = mask.shape
    return slice(max(0, y0 - margin), min(height, y1 + margin)), slice(max(0, x0 - margin), min(width, x1 + margin))


@dataclass(frozen=True)
class DefectSource:
    """A real defect: its RGB image and 0/255 ground-truth mask, and where it came from."""
    image: np.ndarray
    mask: np.ndarray
    label: str = ""                 # the defect's name, e.g. 'crack'
    class_name: str = ""            # the class of the real anomaly, e.g. 'hazelnut'
    kind: str = ""                  # that class's kind: 'object' or 'texture'
    item_id: int | None = None      # the real anomaly's item in the workspace
    file: str = ""                  # its file (workspace-relative, or the name it was imported as)

    def provenance(self) -> dict:
        """Where this defect came from, as stored with each result that transplants it."""
        return {"class": self.class_name, "kind": self.kind, "item_id": self.item_id, "file": self.file,
                "defect": self.label}


def _lab(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)


def _rgb(lab: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.clip(lab, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)


def _ring(mask: np.ndarray, width: int) -> np.ndarray:
    """Pixels within `width` outside the mask: the surface the defect sits on."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * width + 1, 2 * width + 1))
    ring = (cv2.dilate(mask, kernel) > 0) & (mask == 0)
    return ring if ring.any() else mask == 0


def match_colours(patch: np.ndarray, patch_surface: np.ndarray, target: np.ndarray,
                  target_surface: np.ndarray) -> np.ndarray:
    """`patch` with the Lab statistics of its own surface moved onto the target's surface (Reinhard).

    Mapping the surfaces, not the defect, keeps the defect's contrast to its surroundings.
    """
    src, ref = _lab(patch), _lab(target)
    s_mean, s_std = src[patch_surface].mean(0), src[patch_surface].std(0) + 1e-3
    r_mean, r_std = ref[target_surface].mean(0), ref[target_surface].std(0) + 1e-3
    ratio = np.clip(r_std / s_std, 0.5, 2.0)
    return _rgb((src - s_mean) * ratio + r_mean)


def _feather_inside(mask: np.ndarray, px: float) -> np.ndarray:
    """Float weights rising from 0 at the mask edge to 1 at `px` inside it."""
    inside = cv2.distanceTransform((mask > 0).astype(np.uint8), cv2.DIST_L2, 3)
    return np.clip(inside / max(px, 1e-3), 0, 1).astype(np.float32)


def transplant(image: np.ndarray, mask: np.ndarray, source: DefectSource, rng: np.random.Generator,
               source_ring: np.ndarray | None = None) -> np.ndarray:
    """A real defect's texture stretched over the target mask, colour-matched and Poisson-blended.

    Looks no further than SURFACE_PX around the mask, so the result inside a window of the image
    around the mask (mask_window) is the same as on the whole image. `source_ring`: the source's
    _ring(source.mask, SURFACE_PX), when the caller keeps it.
    """
    x0, y0, x1, y1 = mask_bbox(mask)
    sx0, sy0, sx1, sy1 = _jitter(mask_bbox(source.mask), source.mask.shape, rng)
    # Quarter turns only when the defect is roughly square, so a long scratch keeps its direction.
    near_square = abs((sx1 - sx0) - (sy1 - sy0)) < 0.3 * max(sx1 - sx0, sy1 - sy0)
    turns = int(rng.integers(4)) if near_square else 2 * int(rng.integers(2))
    flip = rng.random() < 0.5
    size = (x1 - x0, y1 - y0)

    def oriented(array: np.ndarray, interpolation: int) -> np.ndarray:
        array = np.rot90(array[sy0:sy1, sx0:sx1], turns)
        return cv2.resize(np.ascontiguousarray(array[:, ::-1] if flip else array), size, interpolation=interpolation)

    patch = oriented(source.image, cv2.INTER_LINEAR)
    # Surface statistics: the source around its defect, the target around the mask.
    if source_ring is None:
        source_ring = _ring(source.mask, SURFACE_PX)
    source_ring = oriented(source_ring.astype(np.uint8), cv2.INTER_NEAREST) > 0
    if not source_ring.any():
        source_ring = np.ones(size[::-1], bool)
    matched = match_colours(patch, source_ring, image, _ring(mask, SURFACE_PX))
    surface = matched[source_ring].mean(0)
    matched = np.clip((matched - surface) * rng.uniform(0.8, 1.4) + surface, 0, 255).astype(np.uint8)
    pad = POISSON_PAD
    padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REFLECT)
    donor = padded.copy()
    donor[y0 + pad:y1 + pad, x0 + pad:x1 + pad] = matched
    clone_mask = np.zeros(padded.shape[:2], np.uint8)
    clone_mask[pad:-pad, pad:-pad] = mask
    centre = (x0 + pad + (x1 - x0) // 2, y0 + pad + (y1 - y0) // 2)
    cloned = cv2.seamlessClone(donor, padded, clone_mask, centre, cv2.NORMAL_CLONE)[pad:-pad, pad:-pad]
    # Poisson editing adapts the colour at the border; keep the defect's own darkness in its core.
    core = (_feather_inside(mask, 4.0) * 0.5)[:, :, None]
    return np.clip(cloned * (1 - core) + _place(image, matched, (x0, y0)) * core, 0, 255).astype(np.uint8)


def _jitter(box: tuple[int, int, int, int], shape: tuple[int, int],
            rng: np.random.Generator) -> tuple[int, int, int, int]:
    """The box with each side moved by up to 15 % of its size, kept inside the image and non-empty."""
    x0, y0, x1, y1 = box
    dx, dy = 0.15 * (x1 - x0), 0.15 * (y1 - y0)
    nx0 = int(np.clip(x0 + rng.uniform(-dx, dx), 0, x1 - 1))
    nx1 = int(np.clip(x1 + rng.uniform(-dx, dx), nx0 + 1, shape[1]))
    ny0 = int(np.clip(y0 + rng.uniform(-dy, dy), 0, y1 - 1))
    ny1 = int(np.clip(y1 + rng.uniform(-dy, dy), ny0 + 1, shape[0]))
    return nx0, ny0, nx1, ny1


def _place(image: np.ndarray, patch: np.ndarray, at: tuple[int, int]) -> np.ndarray:
    out = image.copy()
    out[at[1]:at[1] + patch.shape[0], at[0]:at[0] + patch.shape[1]] = patch
    return out


def _augment_texture(texture: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Three random photometric changes, as DRAEM's anomaly-source augmentation does."""
    def gamma(t):
        return (255 * (t / 255.0) ** rng.uniform(0.4, 2.5)).astype(np.uint8)

    def contrast(t):
        return np.clip((t.astype(np.float32) - 128) * rng.uniform(1.3, 2.5) + 128 + rng.uniform(-40, 40),
                       0, 255).astype(np.uint8)

    def posterize(t):
        shift = int(rng.integers(4, 7))
        return ((t >> shift) << shift).astype(np.uint8)

    def solarize(t):
        return np.where(t >= int(rng.integers(64, 192)), 255 - t, t).astype(np.uint8)

    def invert(t):
        return (255 - t).astype(np.uint8)

    def hue(t):
        hsv = cv2.cvtColor(t, cv2.COLOR_RGB2HSV)
        hsv[:, :, 0] = (hsv[:, :, 0].astype(int) + int(rng.integers(30, 150))) % 180
        return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)

    ops = [gamma, contrast, posterize, solarize, invert, hue]
    for index in rng.choice(len(ops), size=3, replace=False):
        texture = ops[index](texture)
    return texture


def texture_blend(image: np.ndarray, mask: np.ndarray, textures: Sequence[np.ndarray],
                  rng: np.random.Generator) -> np.ndarray:
    """DRAEM's I_a = (1-M)·I + (1-β)·M·A + β·M·I with an augmented, rotated texture A."""
    source = textures[int(rng.integers(len(textures)))] if textures else image
    height, width = image.shape[:2]
    angle = rng.uniform(-90, 90)
    scale = rng.uniform(0.8, 2.0)
    centre = (source.shape[1] * rng.uniform(0.3, 0.7), source.shape[0] * rng.uniform(0.3, 0.7))
    warp = cv2.getRotationMatrix2D(centre, angle, scale)
    warp[:, 2] += (width / 2 - centre[0], height / 2 - centre[1])
    texture = cv2.warpAffine(source, warp, (width, height), borderMode=cv2.BORDER_REFLECT)
    texture = _augment_texture(texture, rng)
    beta = rng.uniform(0.0, 0.5)
    weight = (_feather_inside(mask, 2.0) * (1 - beta))[:, :, None]
    return np.clip(image * (1 - weight) + texture * weight, 0, 255).astype(np.uint8)


def _smooth_noise(shape: tuple[int, int], scale: float, rng: np.random.Generator) -> np.ndarray:
    """Low-frequency noise in [-1, 1]: blurred white noise (cheap Perlin stand-in)."""
    noise = rng.standard_normal(shape).astype(np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), max(scale, 0.5))
    return noise / (np.abs(noise).max() + 1e-6)


def _shattered(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Fragments (Voronoi cells) with their own tilt and brightness, separated by dark cracks."""
    x0, y0, x1, y1 = mask_bbox(mask)
    inside = mask[y0:y1, x0:x1] > 0
    ys, xs = np.nonzero(inside)
    count = int(np.clip(len(ys) / 300, 3, 14))
    pick = rng.choice(len(ys), size=count, replace=len(ys) < count)
    seeds = np.stack([xs[pick], ys[pick]], 1).astype(np.float32)
    grid_y, grid_x = np.mgrid[0:y1 - y0, 0:x1 - x0].astype(np.float32)
    distance = (grid_x[..., None] - seeds[:, 0]) ** 2 + (grid_y[..., None] - seeds[:, 1]) ** 2
    order = np.sort(distance, axis=2)
    cell = np.argmin(distance, axis=2)
    edge = np.sqrt(order[..., 1]) - np.sqrt(order[..., 0])  # 0 on the border between two fragments
    gain = rng.uniform(0.45, 1.05, count)[cell]
    tilt = rng.uniform(-1, 1, (count, 2))[cell]
    shade = gain * (1 + 0.004 * (tilt[..., 0] * (grid_x - grid_x.mean()) + tilt[..., 1] * (grid_y - grid_y.mean())))
    width = rng.uniform(1.0, 2.5) * max(1.0, (x1 - x0 + y1 - y0) / 400)
    crack = np.clip(edge / width, 0, 1) * 0.8 + 0.2
    factor = np.ones(mask.shape, np.float32)
    factor[y0:y1, x0:x1] = np.where(inside, np.clip(shade * crack, 0.05, 1.4), 1)
    return np.clip(image * factor[:, :, None], 0, 255).astype(np.uint8)


def _hole(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A cavity: dark in the middle, a lit rim on one side and a shadow on the other."""
    depth = _feather_inside(mask, max(3.0, np.sqrt((mask > 0).sum()) / 4))
    gy, gx = np.gradient(depth)
    light = rng.uniform(0, 2 * np.pi)
    rim = (gx * np.cos(light) + gy * np.sin(light)) * 6
    darkness = 0.15 + 0.25 * rng.random()
    factor = (1 - depth * (1 - darkness)) + rim
    factor *= 1 + 0.15 * _smooth_noise(mask.shape, 2.0, rng)
    return np.clip(image * np.clip(factor, 0.03, 1.6)[:, :, None], 0, 255).astype(np.uint8)


def _stain(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A tinted blotch, denser at its rim like a dried drop."""
    tint = np.asarray([rng.uniform(40, 110), rng.uniform(25, 80), rng.uniform(5, 50)], np.float32)
    edge = _feather_inside(mask, max(2.0, np.sqrt((mask > 0).sum()) / 6))
    density = (0.55 + 0.35 * (1 - edge) + 0.2 * _smooth_noise(mask.shape, 4.0, rng)) * (mask > 0)
    density = np.clip(density * _feather_inside(mask, 1.5), 0, 1)[:, :, None]
    return np.clip(image * (1 - density) + tint * density, 0, 255).astype(np.uint8)


DAMAGE = {"crack": _shattered, "hole": _hole, "stain": _stain}


def procedural(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator, damage: str | None = None) -> np.ndarray:
    """One kind of damage (random when `damage` is None) painted inside the mask."""
    damage = damage or str(rng.choice(sorted(DAMAGE)))
    return DAMAGE[damage](image, mask, rng)


def _is_grey(image: np.ndarray) -> bool:
    return bool((image[:, :, 0] == image[:, :, 1]).all() and (image[:, :, 1] == image[:, :, 2]).all())


class ClassicalBackend:
    """Weight-free synthesis; `method` 'auto' transplants real defects when any are known, else paints damage."""
    name = "classical"
    is_diffusion = False

    def __init__(self, method: str = "auto", defects: Sequence[DefectSource] = (),
                 textures: Sequence[np.ndarray] = ()):
        if method not in (*METHODS, "auto"):
            raise DsaiiError(f"unknown weight-free method '{method}' (choose from {', '.join(METHODS)})")
        self.method = method
        self.defects = list(defects)
        self.textures = list(textures)
        self._rings: dict[int, np.ndarray] = {}

    @property
    def label(self) -> str:
        return METHOD_LABELS[self.resolved_method()]

    def resolved_method(self, params: InpaintParams | None = None) -> str:
        method = (params.method if params and params.method else None) or self.method
        if method == "auto":
            return "transplant" if self.defects else "procedural"
        if method == "transplant" and not self.defects:
            return "procedural"  # no real defect texture to transplant
        return method

    def _pick(self, rng: np.random.Generator) -> int:
        return int(rng.integers(len(self.defects)))

    def source_for(self, seed: int, params: InpaintParams | None = None) -> DefectSource | None:
        """The real defect `inpaint` transplants for `seed`; None when it paints no real defect."""
        if self.resolved_method(params) != "transplant":
            return None
        return self.defects[self._pick(np.random.default_rng(seed))]  # the first draw of inpaint's generator

    def inpaint(self, image: np.ndarray, mask: np.ndarray, prompt: str, negative_prompt: str, seed: int,
                params: InpaintParams) -> np.ndarray:
        """`image` with a synthetic defect inside `mask`; every pixel off the mask is unchanged."""
        check_pair(image, mask)
        rng = np.random.default_rng(seed)
        method = self.resolved_method(params)
        grey = _is_grey(image)
        window = (slice(None), slice(None))
        if method == "transplant":
            # Only the window around the mask is worked on (transplant looks no further; paste_outside keeps
            # the rest): the same bytes as on the whole image, several times faster on a 512² photo.
            window = mask_window(mask)
            index = self._pick(rng)
            result = transplant(image[window], mask[window], self.defects[index], rng, self._source_ring(index))
        elif method == "texture":
            result = texture_blend(image, mask, self.textures, rng)
        else:
            result = procedural(image, mask, rng)
        if grey:  # a grey part (e.g. magnetic tile) gets grey damage, not coloured paint
            result = np.repeat(cv2.cvtColor(result, cv2.COLOR_RGB2GRAY)[:, :, None], 3, axis=2)
        out = image.copy()
        out[window] = paste_outside(image[window], result, mask[window])
        return out

    def _source_ring(self, index: int) -> np.ndarray:
        """The surface ring of real defect `index`, computed once per backend."""
        if index not in self._rings:
            self._rings[index] = _ring(self.defects[index].mask, SURFACE_PX)
        return self._rings[index]

    def inpaint_batch(self, requests: Sequence[InpaintRequest], params: InpaintParams) -> list[np.ndarray | Exception]:
        return inpaint_each(self, requests, params)
