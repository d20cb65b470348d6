"""Benchmark runs: score every test image of every class, compute the metrics, store and compare runs.

A run is a row in the catalog's `runs` table (detector, settings with seeds and shots, where its files
are) with per-class metrics in `run_metrics`. Its folder in the workspace, `runs/<random id>/`, holds the
maps (compact, see map_store; `bench import` reads a run folder back), scores.csv in the score-import
format (see scores_io), notes.json (per class: what it was trained on, why a metric is undefined), and
`dataset/`, the test images and ground truth it was measured on, so curves and galleries stay true to the
run when the workspace changes later. A detector on a workspace runs as a background job (see tasks.py).

Metrics are computed on the maps as stored (read back at their images' size). Where a class's test set
has both real and synthetic anomalies (see dataset.BenchImage.origin), every metric is also computed on the
normals with the real anomalies only and with the synthetic ones only, stored as `<metric>@real` and
`<metric>@synthetic`: metrics_frame splits them into an `anomalies` column (all / real / synthetic).
"""

from __future__ import annotations

import json
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
from dsaii_core.atomic import atomic_write_text
from dsaii_core.bench import map_store, metrics, scores_io
from dsaii_core.bench.dataset import ORIGINS, BenchImage, ClassSplit, benchmark_root, is_workspace, read_mvtec
from dsaii_core.bench.map_store import AnomalyMap
from dsaii_core.catalog import Run
from dsaii_core.errors import DsaiiError
from dsaii_core.workspace import Workspace

if TYPE_CHECKING:
    from dsaii_core.bench.detectors import Detector, DetectorSpec
    from dsaii_core.jobs import Executor

METRICS = ("image_auroc", "pixel_auroc", "aupro", "f1_max", "pixel_f1_max")
ANOMALIES = ("all", *ORIGINS)      # which anomalies a metric was computed on (with all the normals)
RUNS_FOLDER = "runs"
DATASET_FOLDER = "dataset"
NOTES_JSON = "notes.json"


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
        """One row per class, one column per metric, plus the mean over classes (see wide_metrics)."""
        rows = [{"class": c.name, "anomalies": anomalies, "metric": metric, "value": value}
                for c in self.classes for name, value in c.metrics.items()
                for metric, anomalies in [split_metric(name)]]
        return wide_metrics(pd.DataFrame(rows, columns=["class", "anomalies", "metric", "value"]))


def split_metric(name: str) -> tuple[str, str]:
    """'image_auroc@real' -> ('image_auroc', 'real'); 'image_auroc' -> ('image_auroc', 'all')."""
    metric, _, anomalies = name.partition("@")
    return metric, anomalies or "all"


def wide_metrics(long: pd.DataFrame, outer: tuple[str, ...] = ()) -> pd.DataFrame:
    """Long rows (outer..., class, anomalies, metric, value) as one row per (outer..., class, anomalies) and one
    column per metric, with a 'mean' class (the mean over classes) closing each outer group.

    The anomalies level (all / real / synthetic, in that order) is left out when every row is 'all'.
    """
    if long.empty:
        return pd.DataFrame()
    index = [*outer, "class", "anomalies"]
    wide = long.set_index([*index, "metric"])["value"].astype(float).unstack("metric").sort_index()
    means = wide.groupby(level=[*outer, "anomalies"]).mean()
    means = means.assign(**{"class": "mean"}).set_index("class", append=True).reorder_levels(index)
    table = pd.concat([wide, means])
    if outer:
        table = table.sort_index(level=list(outer), sort_remaining=False, kind="stable")
    table = table[[m for m in METRICS if m in table.columns]]
    if (table.index.get_level_values("anomalies") == "all").all():
        table = table.droplevel("anomalies")
    return table


# -- scoring and evaluating one class -----------------------------------------------------------
def _metrics_of(samples: list[BenchImage], scores: dict[str, float], maps: dict[str, np.ndarray],
                masks: dict[str, np.ndarray], notes: list[str], suffix: str = "") -> dict[str, float | None]:
    values: dict[str, float | None] = {f"{m}{suffix}": None for m in METRICS}
    what = f" ({suffix[1:]} anomalies)" if suffix else ""
    labels = [s.label for s in samples]
    try:
        values[f"image_auroc{suffix}"] = metrics.image_auroc(labels, [scores[s.key] for s in samples])
        values[f"f1_max{suffix}"] = metrics.f1_max(labels, [scores[s.key] for s in samples])
    except ValueError as exc:
        notes.append(f"image metrics{what} undefined: {exc}")
    try:
        pixel = metrics.pixel_metrics([masks[s.key] for s in samples], [maps[s.key] for s in samples])
        values.update({f"{m}{suffix}": v for m, v in pixel.items()})
    except ValueError as exc:
        notes.append(f"pixel metrics{what} undefined: {exc}")
    return values


def evaluate(split: ClassSplit, scores: dict[str, float], maps: dict[str, AnomalyMap]) -> ClassResult:
    """The metrics of one class, each map at its image's size; a metric undefined for this test set (one class
    only) is None, with a note. With real and synthetic anomalies, also on each kind apart (`<metric>@real`)."""
    full = {s.key: maps[s.key].full() for s in split.test}
    masks = {s.key: s.read_mask(full[s.key].shape) for s in split.test}
    notes: list[str] = []
    values = _metrics_of(split.test, scores, full, masks, notes)
    origins = {s.origin for s in split.test if s.label}
    if set(ORIGINS) <= origins:
        for origin in ORIGINS:
            subset = [s for s in split.test if s.label == 0 or s.origin == origin]
            values.update(_metrics_of(subset, scores, full, masks, notes, f"@{origin}"))
        counts = {o: sum(s.origin == o for s in split.test) for o in ORIGINS}
        notes.append(f"{counts['real']} real and {counts['synthetic']} synthetic anomalies: metrics also on each kind")
    return ClassResult(split.name, split.folder.name, values, dict(scores), notes)


def score_class(detector: Detector, split: ClassSplit, shots: int | None, seed: int,
                maps_out: Path, progress: Callable[[float], None] = lambda f: None) -> ClassResult:
    """Fit on k train normals (drawn with `seed`), score the test images, store their maps, evaluate them as stored."""
    started = time.time()
    train = split.shots(shots, seed)
    predictions = detector.score_class(split, train, progress=lambda f: progress(0.95 * f))
    stored = map_store.write_class(maps_out, split.folder.name, {k: m for k, (_, m) in predictions.items()})
    result = evaluate(split, {k: score for k, (score, _) in predictions.items()}, stored)
    where = f" on {detector.device}" if getattr(detector, "device", None) is not None else ""
    result.notes.insert(0, f"trained on {len(train)} of {len(split.train)} normals, tested on {len(split.test)} "
                           f"images, in {time.time() - started:.1f} s{where}")
    progress(1.0)
    return result


# -- run folders ------------------------------------------------------------------------------
def new_run_folder(ws: Workspace) -> Path:
    """A fresh, empty folder under the workspace's runs/."""
    folder = ws.root / RUNS_FOLDER / uuid.uuid4().hex[:12]
    folder.mkdir(parents=True)
    return folder


@contextmanager
def removed_on_error(folder: Path) -> Iterator[Path]:
    try:
        yield folder
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def record_class(folder: Path, result: ClassResult) -> None:
    """Merge one class's image scores into the run's scores.csv and its notes into notes.json."""
    csv_path, notes_path = folder / scores_io.SCORES_CSV, folder / NOTES_JSON
    table = scores_io.read_scores(csv_path) if csv_path.is_file() else {}
    table = {k: v for k, v in table.items() if k[0] != result.name}
    table.update({(result.name, key): score for key, score in result.scores.items()})
    scores_io.write_scores(folder, [(c, k, s) for (c, k), s in sorted(table.items())])
    notes = json.loads(notes_path.read_text(encoding="utf-8")) if notes_path.is_file() else {}
    notes[result.name] = result.notes
    atomic_write_text(notes_path, json.dumps(notes, indent=1, sort_keys=True, ensure_ascii=False))


def copy_test_set(root: Path, folder: Path, split: ClassSplit) -> None:
    """Copy a class's test images and ground truth (and the export manifest) into the run's dataset/."""
    target = folder / DATASET_FOLDER
    for part in ("test", "ground_truth"):
        if (split.folder / part).is_dir():
            shutil.copytree(split.folder / part, target / split.folder.name / part, dirs_exist_ok=True)
    if (root / "manifest.json").is_file():
        shutil.copy2(root / "manifest.json", target / "manifest.json")


# -- running and importing ----------------------------------------------------------------------
def run_detector(path: Path, spec: DetectorSpec, *, name: str | None = None, shots: int | None = None,
                 class_names: list[str] | None = None, maps_out: Path | None = None,
                 progress: Callable[[float], None] = lambda f: None, executor: Executor | None = None) -> RunReport:
    """Benchmark a built-in detector on a workspace (a stored run) or an MVTec folder (not stored).

    A workspace runs as a bench job on `executor` (default: in this process; exported to MVTec AD
    with the spec's seed; a class that fails is reported); an MVTec folder runs in this process.
    `shots` normals per class (all when None) are drawn with the seed; each class gets a fresh detector.
    """
    if is_workspace(path):
        from dsaii_core import jobs
        from dsaii_core.bench.tasks import start_bench_job
        ws = Workspace.open(path)
        job, run_id = start_bench_job(ws, spec, name=name, shots=shots, class_names=class_names)
        jobs.run_to_end(ws, job.id, f"run #{run_id}", executor=executor, progress=progress)
        return load_report(ws, run_id)
    from dsaii_core.bench.detectors import use_every_core
    detector = spec.build()
    use_every_core()
    with benchmark_root(path, spec.seed) as (root, _):
        splits = read_mvtec(root, class_names)
        if maps_out is not None:
            Path(maps_out).mkdir(parents=True, exist_ok=True)
        with _scratch_or(maps_out) as folder:
            results = []
            for index, split in enumerate(splits):
                def step(fraction: float, index: int = index) -> None:
                    progress((index + fraction) / len(splits))
                results.append(score_class(spec.build(), split, shots, spec.seed, folder, step))
                record_class(folder, results[-1])
    return RunReport(name or spec.name, spec.name, {**detector.settings, "shots": shots, "seed": spec.seed},
                     results, maps_dir=maps_out)


@contextmanager
def _scratch_or(folder: Path | None) -> Iterator[Path]:
    if folder is not None:
        yield Path(folder)
        return
    import tempfile
    with tempfile.TemporaryDirectory(prefix="dsaii-run-") as scratch:
        yield Path(scratch)


def import_run(ws_path: Path, maps_dir: Path, name: str, *, seed: int = 0, class_names: list[str] | None = None,
               progress: Callable[[float], None] = lambda f: None) -> RunReport:
    """Evaluate a detector's maps (scores_io format, or a run folder's) against the workspace's MVTec export and
    store the run.

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
        with removed_on_error(new_run_folder(ws)) as folder:
            results = []
            for index, split in enumerate(splits):
                maps = _imported_maps(maps_dir, split, lambda f, i=index: progress((i + f) / len(splits)))
                scores = scores_io.image_scores(maps_dir, split, {k: m.values for k, m in maps.items()}, table)
                results.append(evaluate(split, scores, map_store.write_class(folder, split.folder.name, maps)))
                record_class(folder, results[-1])
                copy_test_set(root, folder, split)
            settings = {"source": str(maps_dir.resolve()), "seed": seed, "scores": "scores.csv" if table else "map max"}
            run_id = ws.catalog.insert_run(name=name, detector="imported", settings=settings,
                                           maps_dir=folder.relative_to(ws.root).as_posix(),
                                           metrics={r.name: r.metrics for r in results})
    return RunReport(name, "imported", settings, results, run_id, folder)


def _imported_maps(maps_dir: Path, split: ClassSplit, progress: Callable[[float], None]) -> dict[str, AnomalyMap]:
    """A class's maps from a run folder (compact maps) or from one file per test image (scored at its own size)."""
    if map_store.has_class(maps_dir, split.folder.name):
        maps = map_store.read_class(maps_dir, split.folder.name)
        missing = [s.key for s in split.test if s.key not in maps]
        if missing:
            raise DsaiiError(f"{map_store.class_file(maps_dir, split.folder.name)}: no map for {len(missing)} of "
                             f"{len(split.test)} test images (e.g. {missing[0]})")
        progress(1.0)
        return {s.key: maps[s.key] for s in split.test}
    maps = {}
    located = scores_io.locate_maps(maps_dir, split)
    for index, sample in enumerate(split.test):
        values = scores_io.read_map(located[sample.key])
        scores_io.check_aspect(located[sample.key], values.shape, imageio.read_image(sample.image).shape[:2])
        maps[sample.key] = AnomalyMap(values.astype(np.float32, copy=False), values.shape)
        progress((index + 1) / len(split.test))
    return maps


# -- reading stored runs ----------------------------------------------------------------------
def stored_run(ws: Workspace, run_id: int) -> Run:
    """The catalog row of a run with a folder; DsaiiError when there is none."""
    run = next((r for r in ws.catalog.runs() if r.id == run_id), None)
    if run is None or not run.maps_dir or not ws.path(run.maps_dir).is_dir():
        raise DsaiiError(f"no stored run #{run_id} with maps")
    return run


def load_report(ws: Workspace, run_id: int) -> RunReport:
    """A stored run as a report: metrics from the catalog, scores and notes from its folder."""
    run = stored_run(ws, run_id)
    folder = ws.path(run.maps_dir)
    values: dict[str, dict[str, float | None]] = {}
    for row in ws.catalog.run_metrics([run_id]):
        values.setdefault(row.class_name, {})[row.metric] = row.value
    table = scores_io.read_scores(folder / scores_io.SCORES_CSV) if (folder / scores_io.SCORES_CSV).is_file() else {}
    notes = json.loads((folder / NOTES_JSON).read_text(encoding="utf-8")) if (folder / NOTES_JSON).is_file() else {}
    folders = {s.name: s.folder.name for s in read_mvtec(folder / DATASET_FOLDER, test_only=True)} \
        if (folder / DATASET_FOLDER).is_dir() else {}
    classes = [ClassResult(name, folders.get(name, name), {**dict.fromkeys(METRICS), **values[name]},
                           {k: v for (c, k), v in table.items() if c == name}, notes.get(name, []))
               for name in sorted(values)]
    return RunReport(run.name, run.detector, run.settings, classes, run_id, folder)


FRAME_COLUMNS = ["run_id", "run", "detector", "class", "anomalies", "metric", "value"]


def metrics_frame(ws: Workspace, run_ids: list[int] | None = None) -> pd.DataFrame:
    """Long table of stored metrics: run_id, run, detector, class, anomalies (all / real / synthetic), metric, value."""
    runs = {r.id: r for r in ws.catalog.runs()}
    rows = [{"run_id": m.run_id, "run": f"#{m.run_id} {runs[m.run_id].name}", "detector": runs[m.run_id].detector,
             "class": m.class_name, "anomalies": anomalies, "metric": metric, "value": m.value}
            for m in ws.catalog.run_metrics(run_ids) for metric, anomalies in [split_metric(m.metric)]]
    return pd.DataFrame(rows, columns=FRAME_COLUMNS)


def compare_runs(ws: Workspace, run_ids: list[int], metric: str = "image_auroc",
                 anomalies: str = "all") -> pd.DataFrame:
    """Classes × runs table of one metric (on all, real or synthetic anomalies), with a 'mean' row (mean over the
    classes each run has)."""
    if metric not in METRICS:
        raise DsaiiError(f"unknown metric '{metric}': choose one of {', '.join(METRICS)}")
    frame = metrics_frame(ws, run_ids)
    frame = frame[(frame["metric"] == metric) & (frame["anomalies"] == anomalies)]
    if frame.empty:
        raise DsaiiError("no stored metrics for these runs")
    wide = frame.pivot_table(index="class", columns="run", values="value", aggfunc="first", dropna=False)
    wide.loc["mean"] = wide.mean(numeric_only=True)
    return wide


def stored_scores(ws: Workspace, run_id: int) -> pd.DataFrame:
    """class, image, score of a stored run (from its scores.csv)."""
    table = scores_io.read_scores(ws.path(stored_run(ws, run_id).maps_dir) / scores_io.SCORES_CSV)
    return pd.DataFrame([{"class": c, "image": i, "score": s} for (c, i), s in table.items()],
                        columns=["class", "image", "score"])
