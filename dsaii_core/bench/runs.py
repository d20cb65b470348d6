"""Benchmark runs: score every test image of every class, compute the metrics, store and compare runs.

A run is a row in the catalog's `runs` table (detector, settings with seeds and shots, time taken, where
its maps are) with per-class metrics in `run_metrics`. Its folder in the workspace, `runs/<random id>/`,
holds the maps and scores.csv in the score-import format (see scores_io), so imported and built-in runs
look the same, and `dataset/`, a copy of the test images and ground truth it was measured on, so curves
and galleries stay true to the run when the workspace changes later.
"""

from __future__ import annotations

import shutil
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

import numpy as np
import pandas as pd

from dsaii_core import imageio
from dsaii_core.bench import metrics, scores_io
from dsaii_core.bench.dataset import ClassSplit, benchmark_root, read_mvtec
from dsaii_core.errors import DsaiiError
from dsaii_core.workspace import Workspace

if TYPE_CHECKING:
    from dsaii_core.bench.detectors import PatchCore

METRICS = ("image_auroc", "pixel_auroc", "aupro", "f1_max", "pixel_f1_max")
RUNS_FOLDER = "runs"
DATASET_FOLDER = "dataset"


@dataclass
class ClassResult:
    name: str
    folder: str
    metrics: dict[str, float | None]
    scores: dict[str, float] = field(default_factory=dict)     # test image key -> image score
    notes: list[str] = field(default_factory=list)


@dataclass
class RunReport:
    name: str
    detector: str
    settings: dict
    classes: list[ClassResult]
    run_id: int | None = None
    maps_dir: Path | None = None

    def table(self) -> pd.DataFrame:
        """One row per class, one column per metric, plus the mean over classes."""
        frame = pd.DataFrame([{"class": c.name, **c.metrics} for c in self.classes]).set_index("class")
        frame.loc["mean"] = frame.mean(numeric_only=True)
        return frame


def evaluate(split: ClassSplit, scores: dict[str, float], maps: dict[str, np.ndarray]) -> ClassResult:
    """The metrics of one class; a metric undefined for this test set (one class only) is None, with a note."""
    labels = [s.label for s in split.test]
    image_scores = [scores[s.key] for s in split.test]
    masks = [s.read_mask(maps[s.key].shape) for s in split.test]
    values: dict[str, float | None] = dict.fromkeys(METRICS)
    notes = []
    try:
        values["image_auroc"] = metrics.image_auroc(labels, image_scores)
        values["f1_max"] = metrics.f1_max(labels, image_scores)
    except ValueError as exc:
        notes.append(f"image metrics undefined: {exc}")
    try:
        values.update(metrics.pixel_metrics(masks, [maps[s.key] for s in split.test]))
    except ValueError as exc:
        notes.append(f"pixel metrics undefined: {exc}")
    return ClassResult(split.name, split.folder.name, values, dict(scores), notes)


def _progress_of(index: int, total: int, progress: Callable[[float], None]) -> Callable[[float], None]:
    return lambda fraction: progress((index + min(max(fraction, 0.0), 1.0)) / total)


def score_class(detector: PatchCore, split: ClassSplit, shots: int | None, seed: int,
                maps_out: Path, progress: Callable[[float], None] = lambda f: None) -> ClassResult:
    """Fit on k train normals, score the test images, write their maps to `maps_out`, evaluate."""
    train = [imageio.read_image(p) for p in split.shots(shots, seed)]
    detector.fit(train, progress=lambda f: progress(0.4 * f))
    scores, maps = {}, {}
    for index, sample in enumerate(split.test):
        (score, anomaly_map), = detector.predict([imageio.read_image(sample.image)])
        scores[sample.key], maps[sample.key] = score, anomaly_map
        scores_io.write_map(maps_out, split.folder.name, sample.key, anomaly_map)
        progress(0.4 + 0.6 * (index + 1) / len(split.test))
    result = evaluate(split, scores, maps)
    result.notes.insert(0, f"trained on {len(train)} of {len(split.train)} normals, tested on {len(split.test)}")
    return result


@contextmanager
def _run_folder(ws: Workspace | None, keep_in: Path | None) -> Iterator[Path]:
    """A fresh folder for a run's maps: under the workspace's runs/, or `keep_in`, or a temporary one."""
    base = ws.root / RUNS_FOLDER if ws is not None else keep_in
    if base is None:
        import tempfile
        with tempfile.TemporaryDirectory(prefix="dsaii-run-") as scratch:
            yield Path(scratch)
        return
    folder = Path(base) / uuid.uuid4().hex[:12]
    folder.mkdir(parents=True)
    try:
        yield folder
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def _store(ws: Workspace | None, report: RunReport, folder: Path, root: Path) -> RunReport:
    """Write the run's scores.csv and, for a workspace, its copy of the test set and its catalog rows."""
    scores_io.write_scores(folder, [(c.name, key, score) for c in report.classes for key, score in sorted(c.scores.items())])
    if ws is not None:
        for result in report.classes:
            for part in ("test", "ground_truth"):
                if (root / result.folder / part).is_dir():
                    shutil.copytree(root / result.folder / part, folder / DATASET_FOLDER / result.folder / part)
        if (root / "manifest.json").is_file():
            shutil.copy2(root / "manifest.json", folder / DATASET_FOLDER / "manifest.json")
        relative = folder.relative_to(ws.root).as_posix()
        report.run_id = ws.catalog.insert_run(
            name=report.name, detector=report.detector, settings=report.settings, maps_dir=relative,
            metrics={c.name: c.metrics for c in report.classes})
    report.maps_dir = folder
    return report


def run_detector(path: Path, detector_factory: Callable[[], PatchCore], *, name: str | None = None,
                 shots: int | None = None, seed: int = 0, class_names: list[str] | None = None,
                 maps_out: Path | None = None, progress: Callable[[float], None] = lambda f: None) -> RunReport:
    """Benchmark a built-in detector on a workspace (stored as a run) or an MVTec folder (not stored).

    A workspace is exported to MVTec AD with `seed` first; `shots` normals per class (all when None)
    are drawn with `seed`; one fresh detector per class.
    """
    started = time.time()
    with benchmark_root(path, seed, class_names) as (root, ws), _run_folder(ws, maps_out) as folder:
        splits = read_mvtec(root, class_names if ws is None else None)
        results, detector = [], None
        for index, split in enumerate(splits):
            detector = detector_factory()
            results.append(score_class(detector, split, shots, seed, folder, _progress_of(index, len(splits), progress)))
        settings = {**detector.settings, "shots": shots, "seed": seed, "seconds": round(time.time() - started, 1)}
        report = RunReport(name or detector.name, detector.name, settings, results)
        return _store(ws, report, folder, root)


def import_run(ws_path: Path, maps_dir: Path, name: str, *, seed: int = 0, class_names: list[str] | None = None,
               progress: Callable[[float], None] = lambda f: None) -> RunReport:
    """Evaluate a detector's maps (scores_io format) against the workspace's MVTec export and store the run.

    Every test image of every class (or of `class_names`) of the export made with `seed` needs a map.
    """
    maps_dir = Path(maps_dir)
    if not maps_dir.is_dir():
        raise DsaiiError(f"{maps_dir}: no such folder of maps")
    table = scores_io.read_scores(maps_dir / scores_io.SCORES_CSV) if (maps_dir / scores_io.SCORES_CSV).is_file() else None
    with benchmark_root(ws_path, seed, class_names) as (root, ws):
        if ws is None:
            raise DsaiiError(f"{ws_path}: not a workspace (import needs one to store the run)")
        splits = read_mvtec(root)
        with _run_folder(ws, None) as folder:
            results = []
            for index, split in enumerate(splits):
                maps = {}
                for sample_index, (key, path) in enumerate(scores_io.locate_maps(maps_dir, split).items()):
                    anomaly_map = scores_io.read_map(path)
                    sample = next(s for s in split.test if s.key == key)
                    scores_io.check_aspect(path, anomaly_map.shape, imageio.read_image(sample.image).shape[:2])
                    maps[key] = anomaly_map
                    scores_io.write_map(folder, split.folder.name, key, anomaly_map)
                    progress((index + (sample_index + 1) / len(split.test)) / len(splits))
                scores = scores_io.image_scores(maps_dir, split, maps, table)
                results.append(evaluate(split, scores, maps))
            settings = {"source": str(maps_dir.resolve()), "seed": seed, "scores": "scores.csv" if table else "map max"}
            return _store(ws, RunReport(name, "imported", settings, results), folder, root)


# -- reading stored runs ----------------------------------------------------------------------
def metrics_frame(ws: Workspace, run_ids: list[int] | None = None) -> pd.DataFrame:
    """Long table of stored metrics: run_id, run, detector, class, metric, value."""
    runs = {r["id"]: r for r in ws.catalog.runs()}
    rows = [{"run_id": m["run_id"], "run": f"#{m['run_id']} {runs[m['run_id']]['name']}",
             "detector": runs[m["run_id"]]["detector"], "class": m["class_name"], "metric": m["metric"],
             "value": m["value"]} for m in ws.catalog.run_metrics(run_ids)]
    return pd.DataFrame(rows, columns=["run_id", "run", "detector", "class", "metric", "value"])


def compare_runs(ws: Workspace, run_ids: list[int], metric: str = "image_auroc") -> pd.DataFrame:
    """Classes × runs table of one metric, with a 'mean' row (mean over the classes each run has)."""
    if metric not in METRICS:
        raise DsaiiError(f"unknown metric '{metric}': choose one of {', '.join(METRICS)}")
    frame = metrics_frame(ws, run_ids)
    frame = frame[frame["metric"] == metric]
    if frame.empty:
        raise DsaiiError("no stored metrics for these runs")
    wide = frame.pivot_table(index="class", columns="run", values="value", aggfunc="first", dropna=False)
    wide.loc["mean"] = wide.mean(numeric_only=True)
    return wide


def stored_run(ws: Workspace, run_id: int) -> dict:
    """The catalog row of a run with maps (settings decoded); DsaiiError when there is none."""
    run = next((r for r in ws.catalog.runs() if r["id"] == run_id), None)
    if run is None or not run["maps_dir"] or not ws.path(run["maps_dir"]).is_dir():
        raise DsaiiError(f"no stored run #{run_id} with maps")
    return run


def stored_scores(ws: Workspace, run_id: int) -> pd.DataFrame:
    """class, image, score of a stored run (from its scores.csv)."""
    table = scores_io.read_scores(ws.path(stored_run(ws, run_id)["maps_dir"]) / scores_io.SCORES_CSV)
    return pd.DataFrame([{"class": c, "image": i, "score": s} for (c, i), s in table.items()],
                        columns=["class", "image", "score"])


@dataclass
class ClassOutcome:
    """A stored run's view of one class: its test set (copied with the run), scores, and map files."""
    split: ClassSplit
    scores: dict[str, float]
    maps_dir: Path

    def read_map(self, key: str) -> np.ndarray:
        return np.load(scores_io.map_path(self.maps_dir, self.split.folder.name, key))


def class_outcome(ws: Workspace, run_id: int, class_name: str) -> ClassOutcome:
    """What a stored run saw and said for one class."""
    folder = ws.path(stored_run(ws, run_id)["maps_dir"])
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
    maps = [outcome.read_map(s.key) for s in outcome.split.test]
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
