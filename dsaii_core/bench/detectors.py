"""Built-in detectors: PatchCore (Roth et al., CVPR 2022) and a weight-free weak baseline.

Both score patches by the distance to their nearest neighbour in a memory bank of normal patch
features, subsampled by a greedy coreset; they differ only in the features:
- PatchCore: layers 2 and 3 of a torchvision CNN (a ResNet family member named by the user, weights
  from a local file), each averaged over 3×3 neighbourhoods, layer 3 upsampled to layer 2's grid.
- Baseline: hand-crafted colour and gradient statistics of 8×8 and 16×16 cells, standardised; no
  weights at all, so it always runs, but it is a weak baseline and is labelled so.
The patch-distance grid is upsampled to the input size and smoothed with a Gaussian (σ = 4): that is the
map a run stores (at the detector's resolution, see map_store); the image score is the maximum of the map
resized to the image. Features, memory bank and distances are computed on CUDA or Apple's MPS when there is
one (`device="auto"`), else on the CPU with every core.

anomalib's models are detectors too, named `anomalib:<Model>` (see anomalib_detector.py).
"""

from __future__ import annotations

import multiprocessing
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol, Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from dsaii_core import imageio
from dsaii_core.bench.map_store import AnomalyMap
from dsaii_core.devices import resolve_device
from dsaii_core.errors import DsaiiError

if TYPE_CHECKING:
    from dsaii_core.bench.dataset import ClassSplit

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DETECTORS = ("patchcore", "baseline")
ANOMALIB_PREFIX = "anomalib:"
BASELINE_LABEL = "weak baseline: hand-crafted colour/gradient patch features + kNN, no model weights"


class PatchFeatures(Protocol):
    """Turns a batch B×3×S×S (RGB in [0, 1]) into patch features B×D×h×w, on the batch's device."""
    def __call__(self, images: torch.Tensor) -> torch.Tensor: ...


Predictions = dict[str, tuple[float, AnomalyMap]]   # test image key -> (image score, map)


class Detector(Protocol):
    """What a run needs of a detector: its settings, and a class's test images scored after training on `train`."""
    name: str
    settings: dict

    def score_class(self, split: ClassSplit, train: list[Path],
                    progress: Callable[[float], None] = lambda f: None) -> Predictions: ...


# -- where the work runs ----------------------------------------------------------------------
def use_every_core() -> int:
    """Let torch use every core this process may run on; returns the thread count.

    torch's default is the physical cores only. A process of a local job pool (jobs.LocalExecutor: one class per
    process, a process per core, which scales better than threads for these detectors, see
    benchmarks/bench_maps.py) takes one thread; a process told otherwise (OMP_NUM_THREADS, which Ray sets for its
    workers) keeps what it was told.
    """
    if "OMP_NUM_THREADS" in os.environ:
        return torch.get_num_threads()
    if multiprocessing.parent_process() is not None:
        torch.set_num_threads(1)
    else:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        torch.set_num_threads(max(1, cores))
    return torch.get_num_threads()


# -- features ---------------------------------------------------------------------------------
def read_state_dict(weights: Path) -> dict[str, torch.Tensor]:
    """A state dict from a local .pt / .pth / .safetensors file (unwrapped from 'state_dict' / 'model')."""
    weights = Path(weights)
    if not weights.is_file():
        raise DsaiiError(f"{weights}: no such weights file")
    try:
        if weights.suffix == ".safetensors":
            from safetensors.torch import load_file
            state = load_file(str(weights))
        else:
            state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as exc:   # noqa: BLE001 - any decoding failure is the user's file
        raise DsaiiError(f"{weights}: cannot read weights ({exc.__class__.__name__}: {exc})") from exc
    state = state.get("state_dict", state.get("model", state)) if isinstance(state, dict) else state
    if not isinstance(state, dict):
        raise DsaiiError(f"{weights}: not a state dict")
    return state


def load_backbone(name: str, weights: Path) -> torch.nn.Module:
    """A torchvision ResNet-family model with weights read from a local file (.pt/.pth or .safetensors)."""
    import torchvision
    if name not in torchvision.models.list_models(module=torchvision.models):
        raise DsaiiError(f"unknown torchvision architecture '{name}' (e.g. wide_resnet50_2, resnet18)")
    model = torchvision.models.get_model(name, weights=None)
    if not all(hasattr(model, layer) for layer in ("layer2", "layer3")):
        raise DsaiiError(f"'{name}' has no layer2 / layer3: PatchCore needs a ResNet-family backbone")
    state = read_state_dict(Path(weights))
    missing, _ = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith("fc.")]
    if missing:
        raise DsaiiError(f"{weights}: does not fit {name} ({len(missing)} missing tensors, e.g. {missing[0]})")
    return model.eval()


def neighbourhood_average(features: torch.Tensor) -> torch.Tensor:
    """Each patch feature averaged with its 3×3 neighbours (PatchCore's local aggregation)."""
    return F.avg_pool2d(features, 3, stride=1, padding=1, count_include_pad=False)


@dataclass
class CnnFeatures:
    """PatchCore features: layers 2 and 3 of a CNN, 3×3-aggregated, on layer 2's grid, pooled to `dim` channels."""
    model: torch.nn.Module
    dim: int = 1024

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        m = self.model
        mean = torch.tensor(IMAGENET_MEAN, device=images.device).view(1, 3, 1, 1)
        x = (images - mean) / torch.tensor(IMAGENET_STD, device=images.device).view(1, 3, 1, 1)
        x = m.maxpool(m.relu(m.bn1(m.conv1(x))))
        layer2 = m.layer2(m.layer1(x))
        layer3 = m.layer3(layer2)
        layer2, layer3 = neighbourhood_average(layer2), neighbourhood_average(layer3)
        layer3 = F.interpolate(layer3, size=layer2.shape[-2:], mode="bilinear", align_corners=False)
        stacked = torch.cat([layer2, layer3], dim=1)
        if stacked.shape[1] > self.dim:   # PatchCore reduces the channels by adaptive average pooling
            b, c, h, w = stacked.shape
            flat = stacked.permute(0, 2, 3, 1).reshape(-1, 1, c)
            stacked = F.adaptive_avg_pool1d(flat, self.dim).reshape(b, h, w, self.dim).permute(0, 3, 1, 2)
        return stacked.contiguous()


_SOBEL_X = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 8


@dataclass
class HandcraftedFeatures:
    """Weight-free patch features: mean colour (intensity, two opponent channels), local contrast and the
    gradient structure tensor of 8×8 cells, plus the same over 16×16 cells, 3×3-aggregated."""
    cell: int = 8

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        r, g, b = images[:, 0:1], images[:, 1:2], images[:, 2:3]
        intensity = (r + g + b) / 3
        kernel = _SOBEL_X.to(images.device).view(1, 1, 3, 3)
        gx = F.conv2d(F.pad(intensity, (1, 1, 1, 1), mode="replicate"), kernel)
        gy = F.conv2d(F.pad(intensity, (1, 1, 1, 1), mode="replicate"), kernel.transpose(2, 3))
        per_pixel = torch.cat([intensity, (r - g) / 2, (r + g - 2 * b) / 4, intensity ** 2,
                               torch.sqrt(gx ** 2 + gy ** 2), gx ** 2, gy ** 2, gx * gy], dim=1)
        scales = []
        for size in (self.cell, 2 * self.cell):
            cells = F.avg_pool2d(per_pixel, size)
            contrast = torch.sqrt(torch.clamp(cells[:, 3:4] - cells[:, 0:1] ** 2, min=0))
            cells = torch.cat([cells[:, :3], contrast, cells[:, 4:]], dim=1)
            scales.append(F.interpolate(neighbourhood_average(cells), size=scales[0].shape[-2:], mode="bilinear",
                                        align_corners=False) if scales else neighbourhood_average(cells))
        return torch.cat(scales, dim=1)


# -- memory bank: coreset and nearest neighbours ----------------------------------------------
def greedy_coreset(features: torch.Tensor, count: int, *, seed: int = 0,
                   projection_dim: int | None = 128) -> torch.Tensor:
    """Indices of `count` rows chosen by greedy farthest-point (k-center) selection, as in PatchCore.

    Distances are taken after a seeded Gaussian random projection to `projection_dim` dimensions
    (Johnson–Lindenstrauss; None keeps the features). The first row is drawn with `seed`.
    """
    n = features.shape[0]
    if count >= n:
        return torch.arange(n)
    generator = torch.Generator().manual_seed(seed)     # on the CPU: the same draws on every device
    points = features.float()
    if projection_dim is not None and projection_dim < points.shape[1]:
        projection = torch.randn(points.shape[1], projection_dim, generator=generator) / projection_dim ** 0.5
        points = points @ projection.to(points.device)
    squared_norms = (points ** 2).sum(1)
    chosen = torch.empty(count, dtype=torch.long)
    chosen[0] = int(torch.randint(n, (1,), generator=generator))
    nearest = torch.full((n,), float("inf"), device=points.device)
    for step in range(1, count + 1):
        centre = int(chosen[step - 1])
        # squared distances to the new centre: |p|² - 2 p·c + |c|² (one matrix-vector product)
        torch.minimum(nearest, squared_norms - 2 * (points @ points[centre]) + squared_norms[centre], out=nearest)
        if step < count:
            chosen[step] = int(torch.argmax(nearest))
    return chosen


def nearest_distances(queries: torch.Tensor, bank: torch.Tensor, *, query_chunk: int = 4096,
                      bank_chunk: int = 16384) -> torch.Tensor:
    """Euclidean distance of each query row to its nearest bank row, in chunks to bound memory, on the bank's
    device."""
    bank = bank.float()
    best = torch.empty(queries.shape[0], device=bank.device)
    bank_sq = (bank ** 2).sum(1)
    for q0 in range(0, queries.shape[0], query_chunk):
        q = queries[q0:q0 + query_chunk].float().to(bank.device)
        q_sq = (q ** 2).sum(1, keepdim=True)
        current = torch.full((q.shape[0],), float("inf"), device=bank.device)
        for b0 in range(0, bank.shape[0], bank_chunk):
            squared = q_sq + bank_sq[b0:b0 + bank_chunk] - 2 * q @ bank[b0:b0 + bank_chunk].T
            current = torch.minimum(current, squared.min(dim=1).values)
        best[q0:q0 + query_chunk] = current.clamp_min(0).sqrt()
    return best


# -- the detector -----------------------------------------------------------------------------
def gaussian_blur(maps: torch.Tensor, sigma: float) -> torch.Tensor:
    """B×1×H×W maps blurred with a Gaussian of `sigma` pixels (kernel ±4σ, reflected borders)."""
    radius = int(round(4 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32, device=maps.device)
    kernel = torch.exp(-x ** 2 / (2 * sigma ** 2))
    kernel /= kernel.sum()
    padded = F.pad(maps, (radius, radius, radius, radius), mode="reflect")
    out = F.conv2d(padded, kernel.view(1, 1, 1, -1))
    return F.conv2d(out, kernel.view(1, 1, -1, 1))


@dataclass
class PatchCore:
    """kNN anomaly detection over a coreset memory bank of normal patch features."""
    features: PatchFeatures
    name: str = "patchcore"
    image_size: int = 224
    coreset_ratio: float = 0.1
    sigma: float = 4.0
    standardise: bool = False       # scale each feature by the normal patches' spread (hand-crafted features)
    seed: int = 0
    batch_size: int = 8
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    settings: dict = field(default_factory=dict)
    memory_bank: torch.Tensor | None = None
    _mean: torch.Tensor | None = None
    _std: torch.Tensor | None = None

    def _batch(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        resized = [cv2.resize(np.ascontiguousarray(im[..., :3] if im.ndim == 3 else np.dstack([im] * 3)),
                              (self.image_size, self.image_size), interpolation=cv2.INTER_AREA) for im in images]
        batch = torch.from_numpy(np.stack(resized)).permute(0, 3, 1, 2)
        return batch.to(self.device).float() / 255.0

    def _patches(self, images: Sequence[np.ndarray]) -> tuple[torch.Tensor, tuple[int, int]]:
        features = self.features(self._batch(images))
        grid = features.shape[-2:]
        return features.permute(0, 2, 3, 1).reshape(-1, features.shape[1]), (int(grid[0]), int(grid[1]))

    @torch.no_grad()
    def fit(self, images: Sequence[np.ndarray], progress: Callable[[float], None] = lambda f: None) -> None:
        """Build the memory bank from normal images (RGB uint8), subsampled to `coreset_ratio`."""
        if not images:
            raise DsaiiError("no training images")
        parts = []
        for start in range(0, len(images), self.batch_size):
            parts.append(self._patches(images[start:start + self.batch_size])[0])
            progress(0.5 * min(start + self.batch_size, len(images)) / len(images))
        bank = torch.cat(parts)
        if self.standardise:
            self._mean, self._std = bank.mean(0), bank.std(0).clamp_min(1e-6)
            bank = (bank - self._mean) / self._std
        count = max(1, int(round(self.coreset_ratio * bank.shape[0])))
        self.memory_bank = bank[greedy_coreset(bank, count, seed=self.seed).to(bank.device)].contiguous()
        progress(1.0)

    @torch.no_grad()
    def predict(self, images: Sequence[np.ndarray]) -> list[tuple[float, AnomalyMap]]:
        """(image score, map at the detector's S×S covering the image) for each RGB uint8 image.

        The score is the maximum of the map resized to the image.
        """
        if self.memory_bank is None:
            raise DsaiiError("the detector has not been fitted")
        out = []
        for start in range(0, len(images), self.batch_size):
            chunk = images[start:start + self.batch_size]
            patches, grid = self._patches(chunk)
            if self.standardise:
                patches = (patches - self._mean) / self._std
            distances = nearest_distances(patches, self.memory_bank).reshape(len(chunk), 1, *grid)
            maps = F.interpolate(distances, size=(self.image_size, self.image_size), mode="bilinear",
                                 align_corners=False)
            maps = gaussian_blur(maps, self.sigma)[:, 0].cpu().numpy()
            for image, score_map in zip(chunk, maps):
                anomaly_map = AnomalyMap(score_map.astype(np.float32), (image.shape[0], image.shape[1]))
                out.append((float(anomaly_map.full().max()), anomaly_map))
        return out

    def score_class(self, split: ClassSplit, train: list[Path],
                    progress: Callable[[float], None] = lambda f: None) -> Predictions:
        """Fit on the `train` normals, then score every test image of the class (read one at a time)."""
        self.fit([imageio.read_image(p) for p in train], progress=lambda f: progress(0.4 * f))
        out: Predictions = {}
        for index, sample in enumerate(split.test):
            out[sample.key], = self.predict([imageio.read_image(sample.image)])
            progress(0.4 + 0.6 * (index + 1) / len(split.test))
        return out


@dataclass(frozen=True)
class DetectorSpec:
    """A detector by name with its options; plain JSON-able values, so a background job can carry it.

    `name`: 'baseline', 'patchcore' or 'anomalib:<Model>' (e.g. anomalib:Patchcore). `layers`, `epochs` and
    `imagenet_dir` are anomalib's (None: the model's defaults); `device` is 'auto', 'cpu', 'cuda' or 'mps'.
    """
    name: str = "baseline"
    backbone: str | None = "wide_resnet50_2"
    weights: str | None = None
    coreset_ratio: float = 0.1
    image_size: int = 224
    seed: int = 0
    layers: tuple[str, ...] | None = None
    epochs: int | None = None
    device: str = "auto"
    imagenet_dir: str | None = None

    def __post_init__(self):
        if self.layers is not None:   # a job's JSON gives a list
            object.__setattr__(self, "layers", tuple(self.layers))

    @property
    def is_anomalib(self) -> bool:
        return self.name.startswith(ANOMALIB_PREFIX)

    def build(self) -> Detector:
        """A fresh, unfitted detector; DsaiiError for an unknown name, architecture or unreadable weights."""
        if self.is_anomalib:
            from dsaii_core.bench.anomalib_detector import AnomalibDetector
            return AnomalibDetector.from_spec(self)
        if self.name not in DETECTORS:
            raise DsaiiError(f"unknown detector '{self.name}': choose one of {', '.join(DETECTORS)} or "
                             f"{ANOMALIB_PREFIX}<Model> (e.g. {ANOMALIB_PREFIX}Patchcore)")
        if not 0 < self.coreset_ratio <= 1:
            raise DsaiiError(f"the coreset ratio must be in (0, 1], not {self.coreset_ratio}")
        device = resolve_device(self.device)
        settings = {"coreset_ratio": self.coreset_ratio, "image_size": self.image_size, "seed": self.seed,
                    "device": self.device}
        common = {"name": self.name, "image_size": self.image_size, "coreset_ratio": self.coreset_ratio,
                  "seed": self.seed, "device": device}
        if self.name == "baseline":
            return PatchCore(HandcraftedFeatures(), standardise=True, settings={**settings, "label": BASELINE_LABEL},
                             **common)
        if self.weights is None:
            raise DsaiiError(f"PatchCore needs backbone weights: pass the path of a {self.backbone} state dict "
                             "(.pth / .safetensors), e.g. torchvision's ImageNet weights saved locally")
        model = load_backbone(self.backbone, Path(self.weights)).to(device)
        return PatchCore(CnnFeatures(model), settings={**settings, "backbone": self.backbone, "weights": self.weights},
                         **common)


def detector_spec(name: str, *, backbone: str | None = None, weights: str | Path | None = None,
                  layers: str | Sequence[str] | None = None, epochs: int | None = None,
                  imagenet_dir: str | Path | None = None, device: str = "auto", coreset_ratio: float = 0.1,
                  image_size: int | None = None, seed: int = 0) -> DetectorSpec:
    """A spec from what a person typed (the page's and the CLI's fields), with each detector's defaults:
    PatchCore's backbone wide_resnet50_2 at 224 px, anomalib's models' own backbone and layers at 256 px."""
    anomalib = name.startswith(ANOMALIB_PREFIX)
    if isinstance(layers, str):
        layers = [part.strip() for part in layers.split(",") if part.strip()]
    return DetectorSpec(name=name, backbone=backbone or (None if anomalib else "wide_resnet50_2"),
                        weights=str(Path(weights).expanduser()) if weights else None, coreset_ratio=coreset_ratio,
                        image_size=image_size or (256 if anomalib else 224), seed=seed,
                        layers=tuple(layers) if layers else None, epochs=epochs, device=device,
                        imagenet_dir=str(Path(imagenet_dir).expanduser()) if imagenet_dir else None)
