"""A stored run's view of one class: its test set, scores and maps; curves and the worst cases for plots."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dsaii_core import imageio
from dsaii_core.bench import map_store, metrics, scores_io
from dsaii_core.bench.dataset import ClassSplit, read_mvtec
from dsaii_core.bench.runs import DATASET_FOLDER, stored_run
from dsaii_core.workspace import Workspace


@dataclass
class ClassOutcome:
    """A stored run's view of one class: its test set (copied with the run), scores, and map files."""
    split: ClassSplit
    scores: dict[str, float]
    maps_dir: Path

    def read_map(self, key: str) -> np.ndarray:
        """The stored map of one test image, at the image's size."""
        return map_store.read_map(self.maps_dir, self.split.folder.name, key)

    def read_maps(self) -> list[np.ndarray]:
        """The stored maps of every test image, in test order, each at its image's size."""
        maps = map_store.read_class(self.maps_dir, self.split.folder.name, [s.key for s in self.split.test])
        return [maps[s.key].full() for s in self.split.test]


def class_outcome(ws: Workspace, run_id: int, class_name: str) -> ClassOutcome:
    """What a stored run saw and said for one class."""
    folder = ws.path(stored_run(ws, run_id).maps_dir)
    splits = read_mvtec(folder / DATASET_FOLDER, [class_name], test_only=True)
    scores = {key: score for (cls, key), score in scores_io.read_scores(folder / scores_io.SCORES_CSV).items()
              if cls == class_name}
    return ClassOutcome(splits[0], scores, folder)


def class_curves(outcome: ClassOutcome, points: int = 512) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Image ROC, pixel ROC and PRO curves of a class (pixel curves at about `points` thresholds)."""
    curves = {}
    try:
        labels = [s.label for s in outcome.split.test]
        curves["image ROC"] = metrics.roc_curve_of(
            metrics.sorted_labels_scores(labels, [outcome.scores[s.key] for s in outcome.split.test]), None)
    except ValueError:
        pass
    maps = outcome.read_maps()
    masks = [s.read_mask(m.shape) for s, m in zip(outcome.split.test, maps)]
    try:
        pixels = metrics.sorted_pixel_scores(masks, maps, regions=True)
    except ValueError:
        return curves
    curves["pixel ROC"] = metrics.roc_curve_of(pixels, points)
    curves["PRO"] = metrics.pro_curve_of(pixels, points)
    return curves


@dataclass(frozen=True)
class Case:
    """One test image of a gallery: a normal scored high (false positive) or a defect scored low."""
    key: str
    kind: str            # "false positive" | "false negative"
    score: float
    image: np.ndarray
    mask: np.ndarray
    anomaly_map: np.ndarray


def worst_cases(outcome: ClassOutcome, count: int = 4) -> list[Case]:
    """The `count` highest-scored normals and the `count` lowest-scored defects of a class."""
    normals = sorted((s for s in outcome.split.test if s.label == 0), key=lambda s: -outcome.scores[s.key])
    defects = sorted((s for s in outcome.split.test if s.label == 1), key=lambda s: outcome.scores[s.key])
    cases = []
    for kind, samples in (("false positive", normals[:count]), ("false negative", defects[:count])):
        for sample in samples:
            image = imageio.read_image(sample.image)
            cases.append(Case(sample.key, kind, outcome.scores[sample.key], image,
                              sample.read_mask(image.shape[:2]), outcome.read_map(sample.key)))
    return cases
