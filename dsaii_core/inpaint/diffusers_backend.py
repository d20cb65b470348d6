"""Stable Diffusion inpainting through diffusers, from a local model folder or one .safetensors file.

Nothing is downloaded: loading uses `local_files_only=True` with HF_HUB_OFFLINE set. A single-file
checkpoint needs a local folder with the model's component configs (`config`), e.g. the model's
repository without its weights. CUDA runs in fp16, MPS and CPU in fp32. The model sees a crop
around the mask at its native size; the result is pasted back inside the mask only (`paste_outside`):
the VAE round trip changes every pixel slightly, and the mask must cover every changed pixel.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from dsaii_core.devices import resolve_device
from dsaii_core.errors import DsaiiError
from dsaii_core.inpaint.base import InpaintFailed, InpaintParams, InpaintRequest, check_pair, paste_outside
from dsaii_core.inpaint.crop import crop_around, paste_back

SCHEDULERS = {
    "ddim": "DDIMScheduler",
    "euler": "EulerDiscreteScheduler",
    "euler_a": "EulerAncestralDiscreteScheduler",
    "dpm++": "DPMSolverMultistepScheduler",
    "pndm": "PNDMScheduler",
    "lms": "LMSDiscreteScheduler",
    "unipc": "UniPCMultistepScheduler",
}
BLACK_MAX = 8  # a result whose brightest pixel is darker than this is a blanked image


def pick_device(prefer: str | None = None):
    """(device, dtype): the device (devices.resolve_device), with fp16 on CUDA and fp32 elsewhere."""
    import torch
    device = resolve_device(prefer)
    return str(device), (torch.float16 if device.type == "cuda" else torch.float32)


def _single_file_class(config: Path):
    import diffusers
    index = config / "model_index.json"
    if not index.is_file():
        raise DsaiiError(f"{config}: not a diffusers config folder (no model_index.json)")
    name = json.loads(index.read_text()).get("_class_name", "")
    return diffusers.StableDiffusionXLInpaintPipeline if "XL" in name else diffusers.StableDiffusionInpaintPipeline


def load_pipeline(model: Path, config: Path | None = None, device: str | None = None,
                  attention_slicing: bool = False, cpu_offload: bool = False):
    """An inpainting pipeline from a local diffusers folder or a single checkpoint file, ready on `device`."""
    os.environ["HF_HUB_OFFLINE"] = "1"  # belt and braces beside local_files_only
    from diffusers import AutoPipelineForInpainting
    model = Path(model).expanduser()
    device, dtype = pick_device(device)
    try:
        if model.is_dir():
            if not (model / "model_index.json").is_file():
                raise DsaiiError(f"{model}: not a diffusers model folder (no model_index.json)")
            pipeline = AutoPipelineForInpainting.from_pretrained(model, dtype=dtype, local_files_only=True)
        elif model.is_file() and model.suffix in (".safetensors", ".ckpt"):
            if config is None:
                raise DsaiiError(f"{model.name}: a single checkpoint file needs --config, a local folder with the "
                                 "model's component configs (its diffusers repository without weights)")
            pipeline = _single_file_class(Path(config)).from_single_file(
                str(model), config=str(config), dtype=dtype, local_files_only=True)
        else:
            raise DsaiiError(f"{model}: no such model folder or .safetensors file")
    except DsaiiError:
        raise
    except (OSError, ValueError, KeyError, RuntimeError, TypeError) as exc:
        raise DsaiiError(f"cannot load the model at {model}: {str(exc).splitlines()[0]}") from exc
    if attention_slicing:
        pipeline.enable_attention_slicing()
    if cpu_offload and device.startswith("cuda"):
        pipeline.enable_model_cpu_offload()
    else:
        pipeline.to(device)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


class DiffusersBackend:
    """Diffusion inpainting with a local model; the pipeline loads on first use and stays loaded."""
    name = "diffusers"
    is_diffusion = True

    def __init__(self, model: Path, config: Path | None = None, device: str | None = None, pipeline=None):
        self.model = Path(model)
        self.config = Path(config) if config else None
        self.device = device
        self._pipeline = pipeline
        self._default_scheduler = None

    @property
    def label(self) -> str:
        return f"Stable Diffusion (diffusers): {self.model.name}"

    def pipeline(self, params: InpaintParams):
        if self._pipeline is None:
            self._pipeline = load_pipeline(self.model, self.config, self.device, params.attention_slicing,
                                           params.cpu_offload)
        self._set_scheduler(params.scheduler)
        return self._pipeline

    def _set_scheduler(self, name: str | None) -> None:
        import diffusers
        pipe = self._pipeline
        if self._default_scheduler is None:
            self._default_scheduler = pipe.scheduler
        if name is None:
            pipe.scheduler = self._default_scheduler
        elif name not in SCHEDULERS:
            raise DsaiiError(f"unknown scheduler '{name}' (choose from {', '.join(SCHEDULERS)})")
        elif type(pipe.scheduler).__name__ != SCHEDULERS[name]:
            pipe.scheduler = getattr(diffusers, SCHEDULERS[name]).from_config(self._default_scheduler.config)

    def native_size(self, params: InpaintParams) -> int:
        """Side of the square the model was trained at (512 for SD 1.5, 1024 for SDXL)."""
        pipe = self.pipeline(params)
        return params.resolution or int(pipe.unet.config.sample_size * pipe.vae_scale_factor)

    def inpaint(self, image: np.ndarray, mask: np.ndarray, prompt: str, negative_prompt: str, seed: int,
                params: InpaintParams) -> np.ndarray:
        result = self.inpaint_batch([InpaintRequest(image, mask, prompt, negative_prompt, seed)], params)[0]
        if isinstance(result, Exception):
            raise result
        return result

    def inpaint_batch(self, requests: Sequence[InpaintRequest], params: InpaintParams) -> list[np.ndarray | Exception]:
        """One result or exception per request; crops of one working size run as one pipeline batch."""
        import torch
        from PIL import Image
        pipe = self.pipeline(params)
        side = self.native_size(params)
        results: list[np.ndarray | Exception] = [InpaintFailed("not run")] * len(requests)
        crops, groups = {}, {}
        for index, request in enumerate(requests):
            try:
                check_pair(request.image, request.mask)
            except InpaintFailed as exc:
                results[index] = exc
                continue
            crops[index] = crop_around(request.image, request.mask, side, params.dilate_px)
            groups.setdefault(crops[index].image.shape[:2], []).append(index)
        for (height, width), indices in groups.items():
            try:
                with torch.inference_mode():
                    output = pipe(prompt=[requests[i].prompt for i in indices],
                                  negative_prompt=[requests[i].negative_prompt or "" for i in indices],
                                  image=[Image.fromarray(crops[i].image) for i in indices],
                                  mask_image=[Image.fromarray(crops[i].mask) for i in indices],
                                  height=height, width=width, strength=params.strength,
                                  num_inference_steps=params.steps, guidance_scale=params.guidance,
                                  generator=[torch.Generator("cpu").manual_seed(requests[i].seed) for i in indices],
                                  output_type="np")
            except (RuntimeError, ValueError) as exc:  # e.g. out of memory: this batch fails, the job goes on
                for i in indices:
                    results[i] = InpaintFailed(f"diffusion failed: {str(exc).splitlines()[0]}")
                continue
            flagged = getattr(output, "nsfw_content_detected", None) or [False] * len(indices)
            for slot, i in enumerate(indices):
                generated = np.clip(np.rint(output.images[slot] * 255), 0, 255).astype(np.uint8)
                if flagged[slot] or int(generated.max()) < BLACK_MAX:
                    results[i] = InpaintFailed("the model returned a black image (safety checker); retry with "
                                               "another seed")
                    continue
                pasted = paste_back(requests[i].image, requests[i].mask, crops[i], generated, params.dilate_px)
                results[i] = paste_outside(requests[i].image, pasted, requests[i].mask)
        return results
