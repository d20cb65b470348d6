"""Segment Anything: a local checkpoint loaded safely, automatic candidates, prompts and mask refinement.

The checkpoint and model type come from (first found) an explicit argument (CLI flag), the
workspace setting `sam.checkpoint` / `sam.model_type`, or the environment (DSAII_SAM_CHECKPOINT /
DSAII_SAM_MODEL). Weights are read with `torch.load(..., weights_only=True)` (or safetensors):
the model is built empty through segment_anything's registry and the state dict loaded here,
because `build_sam(checkpoint=...)` unpickles arbitrary objects.

Image embeddings are computed once per image and kept in a small in-memory LRU and, when a cache
folder is given, as `.npy` files (never pickles), so prompting an image again is interactive.
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from segment_anything import SamAutomaticMaskGenerator, SamPredictor, sam_model_registry
from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

from dsaii_core.devices import resolve_device
from dsaii_core.errors import DsaiiError
from dsaii_core.masks.sam_config import ENCODER_DIMS, AutoParams, SamConfig
from dsaii_core.masks.select import Candidate, Prompt

# Magnitude of the logits a binary mask becomes when fed back as SAM's mask_input; SAM's own
# low-resolution outputs on confident masks are of this order.
MASK_LOGIT = 10.0


def build_tiny_sam() -> Sam:
    """The 256 px, ~0.1 M parameter SAM architecture used for tests and benchmarks (random weights)."""
    return Sam(
        image_encoder=ImageEncoderViT(img_size=256, patch_size=16, embed_dim=32, depth=2, num_heads=2,
                                      window_size=4, global_attn_indexes=[1], out_chans=32, use_rel_pos=True),
        prompt_encoder=PromptEncoder(embed_dim=32, image_embedding_size=(16, 16), input_image_size=(256, 256),
                                     mask_in_chans=4),
        mask_decoder=MaskDecoder(transformer=TwoWayTransformer(depth=1, embedding_dim=32, mlp_dim=64, num_heads=2),
                                 transformer_dim=32, num_multimask_outputs=3, iou_head_depth=2,
                                 iou_head_hidden_dim=32),
        pixel_mean=[123.675, 116.28, 103.53], pixel_std=[58.395, 57.12, 57.375])


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a checkpoint (.pth via torch.load(weights_only=True), or .safetensors); DsaiiError if unusable."""
    if not path.is_file():
        raise DsaiiError(f"{path}: SAM checkpoint not found")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file
            state = load_file(str(path), device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for foreign or corrupt files
        raise DsaiiError(f"{path}: not a usable SAM checkpoint ({type(exc).__name__}: {str(exc)[:200]})") from exc
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    if not isinstance(state, dict) or "image_encoder.pos_embed" not in state:
        raise DsaiiError(f"{path}: does not hold SAM weights (no image_encoder.pos_embed)")
    return state


def load_sam(config: SamConfig) -> Sam:
    """A SAM with the checkpoint's weights, in eval mode on the chosen device."""
    state = read_state_dict(config.checkpoint)
    inferred = ENCODER_DIMS.get(int(state["image_encoder.pos_embed"].shape[-1]))
    model_type = config.model_type or inferred
    if model_type is None:
        raise DsaiiError(f"{config.checkpoint}: unknown SAM architecture; give the model type (vit_b, vit_l, vit_h)")
    if inferred is not None and model_type != inferred:
        raise DsaiiError(f"{config.checkpoint}: holds {inferred} weights, but model type {model_type} was asked for")
    model = build_tiny_sam() if model_type == "tiny" else sam_model_registry[model_type](checkpoint=None)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise DsaiiError(f"{config.checkpoint}: weights do not fit {model_type} ({str(exc)[:200]})") from exc
    return model.eval().to(resolve_device(config.device))


class CachedPredictor(SamPredictor):
    """SamPredictor whose image embeddings are computed once per image content."""

    def __init__(self, model: Sam, model_key: str, cache_dir: Path | None = None, capacity: int = 8):
        super().__init__(model)
        self.model_key = model_key
        self.cache_dir = cache_dir
        self.capacity = capacity
        self._memory: OrderedDict[str, torch.Tensor] = OrderedDict()
        self.computed = 0  # embeddings actually computed (the rest came from a cache)

    def _image_key(self, image: np.ndarray) -> str:
        digest = hashlib.sha256(np.ascontiguousarray(image).tobytes())
        digest.update(repr(image.shape).encode())
        return f"{self.model_key}-{digest.hexdigest()[:24]}"

    def set_image(self, image: np.ndarray, image_format: str = "RGB") -> None:
        """Like SamPredictor.set_image, reusing a cached embedding of the same pixels when there is one."""
        if image_format != "RGB":
            image = image[..., ::-1]
        key = self._image_key(image)
        features = self._memory.get(key)
        path = self.cache_dir / f"{key}.npy" if self.cache_dir is not None else None
        if features is None and path is not None and path.is_file():
            try:
                features = torch.from_numpy(np.load(path, allow_pickle=False)).to(self.device)
            except (OSError, ValueError):
                features = None  # a damaged cache file is recomputed
        if features is None:
            super().set_image(image, "RGB")
            self.computed += 1
            features = self.features
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                temp = path.with_suffix(f".{os.getpid()}.tmp.npy")
                np.save(temp, features.cpu().numpy(), allow_pickle=False)
                os.replace(temp, path)
        else:
            self.reset_image()
            self.original_size = image.shape[:2]
            self.input_size = self.transform.get_preprocess_shape(*image.shape[:2], self.transform.target_length)
            self.features = features
            self.is_image_set = True
        self._memory[key] = features
        self._memory.move_to_end(key)
        while len(self._memory) > self.capacity:
            self._memory.popitem(last=False)


class SamBackend:
    """One loaded SAM: automatic candidates, prompted masks, refinement of an existing mask."""

    def __init__(self, model: Sam, model_key: str, cache_dir: Path | None = None):
        self.model = model
        self.predictor = CachedPredictor(model, model_key, cache_dir)

    @classmethod
    def load(cls, config: SamConfig, cache_dir: Path | None = None) -> "SamBackend":
        return cls(load_sam(config), config.key, cache_dir)

    @property
    def key(self) -> str:
        """Identifies the loaded weights (for caches)."""
        return self.predictor.model_key

    def automatic(self, image: np.ndarray, params: AutoParams = AutoParams()) -> list[Candidate]:
        """SamAutomaticMaskGenerator's masks for the whole image, as candidates."""
        generator = SamAutomaticMaskGenerator(self.model, points_per_side=params.points_per_side,
                                              points_per_batch=params.points_per_batch,
                                              pred_iou_thresh=params.pred_iou_thresh,
                                              stability_score_thresh=params.stability_score_thresh,
                                              box_nms_thresh=params.box_nms_thresh,
                                              min_mask_region_area=params.min_mask_region_area)
        generator.predictor = self.predictor  # shares the embedding cache
        with torch.no_grad():
            records = generator.generate(image)
        return [Candidate(mask=r["segmentation"].astype(bool), source="sam-auto",
                          predicted_iou=float(r["predicted_iou"]), stability=float(r["stability_score"]),
                          point=tuple(float(v) for v in r["point_coords"][0]))
                for r in records]

    def predict(self, image: np.ndarray, prompt: Prompt, mask: np.ndarray | None = None) -> list[Candidate]:
        """Masks for the prompt, best first; with `mask`, that mask is refined (fed back as mask_input).

        Without a current mask and with a single ambiguous prompt SAM's three proposals are returned.
        """
        if prompt.empty and mask is None:
            raise DsaiiError("give at least one point, a box or a mask to refine")
        self.predictor.set_image(image)
        points = [*prompt.positive, *prompt.negative]
        coords = np.asarray(points, np.float32).reshape(-1, 2) if points else None
        labels = np.asarray([1] * len(prompt.positive) + [0] * len(prompt.negative)) if points else None
        box = np.asarray(prompt.box, np.float32) if prompt.box is not None else None
        mask_input = self.mask_input(mask) if mask is not None else None
        multimask = mask is None and len(points) + (box is not None) == 1
        masks, scores, _ = self.predictor.predict(point_coords=coords, point_labels=labels, box=box,
                                                  mask_input=mask_input, multimask_output=multimask)
        source = "sam-refine" if mask is not None else "sam-prompt"
        order = np.argsort(-scores)
        return [Candidate(mask=masks[i].astype(bool), source=source, predicted_iou=float(scores[i]))
                for i in order]

    def mask_input(self, mask: np.ndarray) -> np.ndarray:
        """SAM's 1×S×S low-resolution logits for a binary mask (S = 4 × embedding size, 256 for real SAM).

        The mask goes through the same resize-longest-side and bottom / right padding as the
        image, so SAM's postprocess_masks maps the logits back onto the mask.
        """
        encoder_size = self.model.image_encoder.img_size
        low_res = 4 * self.model.prompt_encoder.image_embedding_size[0]
        height, width = mask.shape[:2]
        new_h, new_w = self.predictor.transform.get_preprocess_shape(height, width, encoder_size)
        soft = torch.from_numpy((np.asarray(mask) > 0).astype(np.float32))[None, None]
        soft = F.interpolate(soft, (new_h, new_w), mode="bilinear", align_corners=False)
        soft = F.pad(soft, (0, encoder_size - new_w, 0, encoder_size - new_h))
        soft = F.interpolate(soft, (low_res, low_res), mode="area")
        return ((soft[0] * 2 - 1) * MASK_LOGIT).numpy()
