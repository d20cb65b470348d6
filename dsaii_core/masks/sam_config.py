"""Which Segment Anything to use: the checkpoint setting and the automatic-mask parameters.

Kept apart from sam.py so pages and commands can read and save the choice without importing
torch and segment_anything (seconds on a cold start), which only loading the model needs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from dsaii_core import settings
from dsaii_core.catalog import Catalog
from dsaii_core.errors import DsaiiError

# "tiny" is a 256 px test-size architecture (random weights are built in tests); never a real model.
MODEL_TYPES = ("vit_b", "vit_l", "vit_h", "tiny")
ENCODER_DIMS = {768: "vit_b", 1024: "vit_l", 1280: "vit_h", 32: "tiny"}
SETTING_CHECKPOINT, SETTING_MODEL = "sam.checkpoint", "sam.model_type"
ENV_CHECKPOINT, ENV_MODEL = settings.SETTINGS[SETTING_CHECKPOINT].env, settings.SETTINGS[SETTING_MODEL].env


@dataclass(frozen=True)
class SamConfig:
    """Where the weights are and which architecture they belong to (None: inferred from the weights)."""
    checkpoint: Path
    model_type: str | None = None
    device: str | None = None

    @classmethod
    def resolve(cls, catalog: Catalog | None = None, checkpoint: Path | str | None = None,
                model_type: str | None = None, device: str | None = None) -> "SamConfig | None":
        """The configured SAM (flag, then workspace setting, then environment), or None when none is set."""
        checkpoint = checkpoint or settings.get(catalog, SETTING_CHECKPOINT)
        model_type = model_type or settings.get(catalog, SETTING_MODEL) or None
        if not checkpoint:
            return None
        if model_type is not None and model_type not in MODEL_TYPES:
            raise DsaiiError(f"unknown SAM model type '{model_type}' (one of {', '.join(MODEL_TYPES[:3])})")
        return cls(Path(checkpoint).expanduser(), model_type, device)

    def save(self, catalog: Catalog) -> None:
        """Remember this checkpoint and model type as the workspace's SAM."""
        settings.put(catalog, SETTING_CHECKPOINT, str(self.checkpoint))
        if self.model_type:
            settings.put(catalog, SETTING_MODEL, self.model_type)

    @property
    def key(self) -> str:
        """Identifies these weights in cache names: path, size and modification time."""
        stat = self.checkpoint.stat()
        text = f"{self.checkpoint.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class AutoParams:
    """SamAutomaticMaskGenerator's parameters (its defaults are tuned for ViT-H)."""
    points_per_side: int = 32
    points_per_batch: int = 64
    pred_iou_thresh: float = 0.88
    stability_score_thresh: float = 0.95
    box_nms_thresh: float = 0.7
    min_mask_region_area: int = 0
