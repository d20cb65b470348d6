"""anomalib's image models as detectors of a run: `anomalib:<Model>` (e.g. anomalib:Patchcore, anomalib:Padim).

Each class of the run's MVTec export is loaded by anomalib's MVTecAD datamodule, the model is trained on the
class's train normals (k of them with --shots) by anomalib's Engine, and its predictions give every test image's
anomaly map (at image_size²) and score (the model's own image score, unnormalised); the run stores and
evaluates them like a built-in detector's. Options: backbone and layers (None: the model's defaults), image
size, epochs (None: one pass for the memory-bank models such as Patchcore and Padim, 300 for Supersimplenet as its
README recommends; a model that trains a network otherwise needs them), device.

Nothing is downloaded (see anomalib_engine.offline): backbone weights come from a local state dict, EfficientAd's
teacher from a local file and its penalty images from a local folder. anomalib is an optional extra
(requirements-anomalib.txt); without it these detectors say how to add it. VERIFIED lists the models checked
here to train offline on normal images only; any other anomalib image model may be named and runs if it needs
nothing else (one that would download stops with a message; Csflow and Cfa do).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from dsaii_core import imageio
from dsaii_core.bench.detectors import ANOMALIB_PREFIX, Predictions
from dsaii_core.devices import resolve_device
from dsaii_core.bench.map_store import AnomalyMap
from dsaii_core.errors import DsaiiError

if TYPE_CHECKING:
    from dsaii_core.bench.dataset import ClassSplit
    from dsaii_core.bench.detectors import DetectorSpec

INSTALL_HINT = ("anomalib is not installed: it is an optional extra, add it with "
                "`pip install -r requirements-anomalib.txt` (`make test` installs it)")
# Trained offline for one epoch on normal images here (anomalib 2.7.0, random backbone weights).
VERIFIED = ("Patchcore", "Padim", "Supersimplenet", "EfficientAd", "Stfpm", "Fastflow", "Cflow", "Dfm",
            "ReverseDistillation", "Uflow")
ONE_PASS = ("Patchcore", "Padim", "Dfm", "Dfkde")   # memory-bank / statistics models: one pass over the normals
DEFAULT_EPOCHS = {"Supersimplenet": 300}             # its anomalib README: 300 epochs (batch 32)
CORESET_MODELS = ("Patchcore",)   # take the spec's coreset ratio (coreset_sampling_ratio)
DEFAULT_IMAGE_SIZE = 256      # anomalib's default input size for these models
MIN_IMAGE_SIZE = {"EfficientAd": 256, "Supersimplenet": 128}
BACKBONE_HELP = ("a state dict of its backbone (.pth / .safetensors), e.g. torchvision's ImageNet weights saved "
                 "locally (timm's ResNets take them as they are)")
WEIGHTS_HELP = {"EfficientAd": "the teacher's state dict (pretrained_teacher_small.pth or _medium.pth from "
                               "anomalib's efficientad_pretrained_weights)"}


def installed() -> bool:
    return importlib.util.find_spec("anomalib") is not None


def model_of(name: str) -> str:
    """'anomalib:Patchcore' -> 'Patchcore'."""
    return name.removeprefix(ANOMALIB_PREFIX)


@dataclass
class AnomalibDetector:
    """One of anomalib's models with our options; trained afresh for every class (see score_class)."""
    name: str
    model: str
    backbone: str | None
    layers: tuple[str, ...] | None
    weights: Path | None
    image_size: int
    epochs: int | None
    device: str
    seed: int
    imagenet_dir: Path | None
    coreset_ratio: float = 0.1
    settings: dict = field(default_factory=dict)

    @classmethod
    def from_spec(cls, spec: DetectorSpec) -> AnomalibDetector:
        """Checks what can be checked without importing anomalib (it takes seconds); DsaiiError with the fix."""
        model = model_of(spec.name)
        if not model or not model.isidentifier():
            raise DsaiiError(f"'{spec.name}': name one of anomalib's models, e.g. {ANOMALIB_PREFIX}Patchcore "
                             f"({', '.join(VERIFIED)})")
        if not installed():
            raise DsaiiError(INSTALL_HINT)
        if spec.weights is None:
            what = WEIGHTS_HELP.get(model, BACKBONE_HELP)
            raise DsaiiError(f"{spec.name} needs weights from a local file (nothing is downloaded): pass {what}")
        if not Path(spec.weights).is_file():
            raise DsaiiError(f"{spec.weights}: no such weights file")
        if spec.imagenet_dir is not None and not Path(spec.imagenet_dir).is_dir():
            raise DsaiiError(f"{spec.imagenet_dir}: no such folder of penalty images")
        if spec.epochs is not None and spec.epochs < 1:
            raise DsaiiError(f"epochs must be at least 1, not {spec.epochs}")
        if spec.epochs is None and model not in ONE_PASS and model not in DEFAULT_EPOCHS:
            raise DsaiiError(f"{spec.name} trains a network: say for how many epochs (--epochs, the page's Epochs; "
                             "anomalib's model READMEs give the settings of their published numbers)")
        if spec.image_size < MIN_IMAGE_SIZE.get(model, 32):
            raise DsaiiError(f"{spec.name} needs images of at least {MIN_IMAGE_SIZE.get(model, 32)} px, "
                             f"not {spec.image_size}")
        resolve_device(spec.device)
        epochs = spec.epochs or DEFAULT_EPOCHS.get(model)
        settings = {"model": model, "backbone": spec.backbone or "model default",
                    "layers": list(spec.layers) if spec.layers else "model default", "weights": spec.weights,
                    "image_size": spec.image_size, "epochs": epochs or 1, "seed": spec.seed,
                    "device": spec.device, "library": "anomalib"}
        if spec.imagenet_dir:
            settings["imagenet_dir"] = spec.imagenet_dir
        if model in CORESET_MODELS:
            settings["coreset_ratio"] = spec.coreset_ratio
        return cls(spec.name, model, spec.backbone, spec.layers, Path(spec.weights), spec.image_size, epochs,
                   spec.device, spec.seed, Path(spec.imagenet_dir) if spec.imagenet_dir else None,
                   spec.coreset_ratio, settings)

    def accelerator(self) -> str:
        """Lightning's name for the device the run uses."""
        device = resolve_device(self.device).type
        return {"cuda": "gpu"}.get(device, device)

    def train_and_predict(self, split: ClassSplit, train: list[Path],
                          progress: Callable[[float], None] = lambda f: None) -> list:
        """anomalib's prediction batches for the class's test images after training on `train`."""
        from dsaii_core.bench.anomalib_engine import train_and_predict
        return train_and_predict(split, train, model_name=self.model, backbone=self.backbone, layers=self.layers,
                                 weights=self.weights, image_size=self.image_size, epochs=self.epochs,
                                 accelerator=self.accelerator(), seed=self.seed, imagenet_dir=self.imagenet_dir,
                                 coreset_ratio=self.coreset_ratio if self.model in CORESET_MODELS else None,
                                 progress=progress)

    def score_class(self, split: ClassSplit, train: list[Path],
                    progress: Callable[[float], None] = lambda f: None) -> Predictions:
        """Train on `train`, then each test image's (anomalib's image score, its map covering the image)."""
        batches = self.train_and_predict(split, train, progress)
        found = predictions_by_key(batches, self.name)
        missing = [s.key for s in split.test if s.key not in found]
        if missing:
            raise DsaiiError(f"{self.name} gave no prediction for {len(missing)} test images (e.g. {missing[0]})")
        return {s.key: (found[s.key][0], AnomalyMap(found[s.key][1], imageio.read_image(s.image).shape[:2]))
                for s in split.test}


def predictions_by_key(batches: list, name: str) -> dict[str, tuple[float, np.ndarray]]:
    """key '<defect>/<stem>' -> (score, float32 map) from anomalib's prediction batches."""
    out = {}
    for batch in batches:
        if batch.anomaly_map is None or batch.pred_score is None:
            raise DsaiiError(f"{name} gives no anomaly maps (an image-level model): a benchmark run needs maps")
        maps = batch.anomaly_map.detach().float().cpu().numpy()
        scores = batch.pred_score.detach().float().cpu().numpy().reshape(len(batch.image_path))
        for path, anomaly_map, score in zip(batch.image_path, maps.reshape(len(scores), *maps.shape[-2:]), scores):
            path = Path(path)
            out[f"{path.parent.name}/{path.stem}"] = (float(score), np.ascontiguousarray(anomaly_map, np.float32))
    return out
