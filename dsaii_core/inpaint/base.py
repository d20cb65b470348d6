"""What every inpainting backend shares: the Backend protocol, its parameters and the class prompts.

A backend turns (image, anomaly mask) into an image of the same size with a defect painted inside
the mask and every pixel off the mask byte-identical (`paste_outside`): the mask is the exported
ground truth, and a detector that finds a change off it is scored wrong. Diffusion backends
(diffusers, the SD web UI) read the prompt; the weight-free backends of `classical` ignore it and
say so in their label.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Protocol, Sequence

import cv2
import numpy as np

from dsaii_core.catalog import ImageClass
from dsaii_core.errors import DsaiiError

# The prompts the reference work typed into the web UI.
OBJECT_PROMPT = "broken, cracked, severely shattered"
TEXTURE_PROMPT = "stains, holes"
PROMPT_PRESETS = (OBJECT_PROMPT, TEXTURE_PROMPT)
DEFAULT_NEGATIVE_PROMPT = "blurry, cartoon, text, watermark"
SEAM_PX = 2.0  # width of the ramp just inside the mask's edge that hides the seam


class InpaintFailed(DsaiiError):
    """One result is unusable (black safety-checker image, server error for this item); retry or skip it."""


@dataclass(frozen=True)
class InpaintParams:
    """Settings of one inpainting run; backends read the fields that apply to them."""
    steps: int = 30
    strength: float = 0.75          # denoising strength (the web UI's default)
    guidance: float = 7.5
    scheduler: str | None = None    # one of diffusers_backend.SCHEDULERS, None = the model's own
    batch_size: int = 1
    attention_slicing: bool = False
    cpu_offload: bool = False
    resolution: int | None = None   # crop side fed to the model; None = the model's native size
    dilate_px: int = 8              # diffusion: context around the mask (results never change pixels off it)
    method: str | None = None       # classical backends: 'transplant', 'texture', 'procedural'

    def replace(self, **changes) -> "InpaintParams":
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "InpaintParams":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def check(self) -> "InpaintParams":
        """These params, or a DsaiiError naming the first value out of range."""
        if not 1 <= self.steps <= 1000:
            raise DsaiiError(f"steps must be 1–1000, not {self.steps}")
        if not 0.0 < self.strength <= 1.0:
            raise DsaiiError(f"strength must be in (0, 1], not {self.strength}")
        if not 1 <= self.batch_size <= 64:
            raise DsaiiError(f"batch size must be 1–64, not {self.batch_size}")
        if not 0 <= self.dilate_px <= 256:
            raise DsaiiError(f"dilation must be 0–256 px, not {self.dilate_px}")
        return self


@dataclass(frozen=True)
class InpaintRequest:
    """One image to inpaint: RGB uint8 image, 0/255 mask of the same size, prompts and seed."""
    image: np.ndarray
    mask: np.ndarray
    prompt: str = OBJECT_PROMPT
    negative_prompt: str = ""
    seed: int = 0
    extra: dict = field(default_factory=dict)


class Backend(Protocol):
    """An inpainting engine. `inpaint_batch` returns one image or one exception per request."""
    name: str            # 'classical', 'diffusers', 'webui'
    label: str           # what the UI shows, honest about what it is
    is_diffusion: bool

    def inpaint(self, image: np.ndarray, mask: np.ndarray, prompt: str, negative_prompt: str, seed: int,
                params: InpaintParams) -> np.ndarray: ...

    def inpaint_batch(self, requests: Sequence[InpaintRequest],
                      params: InpaintParams) -> list[np.ndarray | Exception]: ...


def inpaint_each(backend: Backend, requests: Sequence[InpaintRequest],
                 params: InpaintParams) -> list[np.ndarray | Exception]:
    """`inpaint_batch` for backends that take one image at a time: a failure stays with its request."""
    results: list[np.ndarray | Exception] = []
    for request in requests:
        try:
            results.append(backend.inpaint(request.image, request.mask, request.prompt, request.negative_prompt,
                                           request.seed, params))
        except InpaintFailed as exc:  # other errors (server gone, bad model) stop the whole job
            results.append(exc)
    return results


def check_pair(image: np.ndarray, mask: np.ndarray) -> None:
    """Raise InpaintFailed unless image is H×W×3 uint8 and mask a non-empty H×W mask."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InpaintFailed(f"expected an H×W×3 uint8 image, got {image.shape} {image.dtype}")
    if mask.shape != image.shape[:2]:
        raise InpaintFailed(f"mask {mask.shape} does not match image {image.shape[:2]}")
    if not (mask > 0).any():
        raise InpaintFailed("the anomaly mask is empty")


def paste_outside(normal: np.ndarray, result: np.ndarray, mask: np.ndarray,
                  feather_px: float = SEAM_PX) -> np.ndarray:
    """`result` inside `mask` and `normal`, byte for byte, everywhere else.

    Every backend ends with this, so the exported mask covers every changed pixel: Poisson
    blending, feathering and a VAE round trip all change pixels past the mask otherwise. The
    seam is hidden by a ramp inside the mask: `result` weighs 1/feather_px on the mask's edge pixels
    and fully from feather_px deep (feather_px <= 1: a hard edge).
    """
    inside = mask > 0
    depth = cv2.distanceTransform(inside.astype(np.uint8), cv2.DIST_L2, 5)  # >= 1, exactly 1 on the edge
    alpha = np.clip(depth[inside] / max(feather_px, 1.0), 0.0, 1.0)[:, None]
    out = normal.copy()
    out[inside] = np.clip(np.rint(alpha * result[inside] + (1 - alpha) * normal[inside]), 0, 255).astype(np.uint8)
    return out


def class_prompts(cls: ImageClass) -> tuple[str, str]:
    """(prompt, negative prompt) of a class: its own, else the reference prompt."""
    return (cls.prompt or OBJECT_PROMPT, cls.negative_prompt if cls.negative_prompt is not None
            else DEFAULT_NEGATIVE_PROMPT)
