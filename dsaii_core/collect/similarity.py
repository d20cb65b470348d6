"""How similar candidate images are to a reference image.

The default descriptor needs no weights: a colour histogram (hue / saturation / value, Hellinger
normalised) next to a HOG shape descriptor of a fixed-size grey copy, as one unit vector, so
similarity is a dot product in [-1, 1]. With a CNN checkpoint (any torchvision classification
architecture) its pooled features are used instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
from skimage.feature import hog

from dsaii_core.errors import DsaiiError

SIDE = 128
HSV_BINS = (8, 4, 4)


@dataclass(frozen=True)
class DescriptorWeights:
    """Relative weight of colour and shape in the weight-free descriptor."""
    colour: float = 1.0
    shape: float = 1.0


def describe(image: np.ndarray, weights: DescriptorWeights = DescriptorWeights()) -> np.ndarray:
    """Unit-length weight-free descriptor (colour histogram + HOG) of an RGB uint8 image."""
    small = cv2.resize(image, (SIDE, SIDE), interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1, 2], None, list(HSV_BINS), [0, 180, 0, 256, 0, 256]).ravel()
    colour = np.sqrt(hist / max(hist.sum(), 1.0))  # Hellinger: unit L2 norm after the root
    grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    shape = hog(grey, orientations=9, pixels_per_cell=(16, 16), cells_per_block=(2, 2), feature_vector=True)
    shape = shape / max(np.linalg.norm(shape), 1e-12)
    vector = np.concatenate([weights.colour * colour, weights.shape * shape]).astype(np.float32)
    return vector / max(float(np.linalg.norm(vector)), 1e-12)


class CnnEmbedder:
    """Pooled features of a torchvision classification network loaded from a local checkpoint."""

    def __init__(self, weights: Path, arch: str = "resnet18"):
        import torch
        import torchvision

        path = Path(weights)
        if not path.is_file():
            raise DsaiiError(f"{path}: no such CNN checkpoint (a torchvision {arch} state dict)")
        try:
            model = torchvision.models.get_model(arch, weights=None)
        except ValueError as exc:
            raise DsaiiError(f"unknown torchvision architecture '{arch}'") from exc
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            model.load_state_dict(state.get("state_dict", state) if isinstance(state, dict) else state)
        except (RuntimeError, OSError, KeyError, ValueError) as exc:
            raise DsaiiError(f"{path}: not a {arch} checkpoint ({str(exc).splitlines()[0]})") from exc
        for head in ("fc", "classifier", "head", "heads"):
            if hasattr(model, head):
                setattr(model, head, torch.nn.Identity())
                break
        self.model = model.eval()
        self._torch = torch

    def describe(self, image: np.ndarray) -> np.ndarray:
        """Unit-length embedding of an RGB uint8 image (224×224, ImageNet normalisation)."""
        torch = self._torch
        small = cv2.resize(image, (224, 224), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
        small = (small - np.array([0.485, 0.456, 0.406], np.float32)) / np.array([0.229, 0.224, 0.225], np.float32)
        with torch.inference_mode():
            features = self.model(torch.from_numpy(small.transpose(2, 0, 1))[None]).flatten(1)[0].numpy()
        return features / max(float(np.linalg.norm(features)), 1e-12)


class Ranker:
    """Scores images by similarity to one reference image (higher is more similar)."""

    def __init__(self, reference: np.ndarray, embedder: CnnEmbedder | None = None):
        self.embedder = embedder
        self.reference = self.describe(reference)

    def describe(self, image: np.ndarray) -> np.ndarray:
        return self.embedder.describe(image) if self.embedder else describe(image)

    def score(self, image: np.ndarray) -> float:
        return float(self.describe(image) @ self.reference)

    def scores(self, descriptors: Sequence[np.ndarray]) -> np.ndarray:
        if not len(descriptors):
            return np.zeros(0, np.float32)
        return np.stack(descriptors) @ self.reference
