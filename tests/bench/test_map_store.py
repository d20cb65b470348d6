"""Compact map storage: codes keep the order of scores, old runs (float32 .npy per image) still read, and a real
run's maps take a fraction of the float32 bytes with the same metrics."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from dsaii_core import imageio
from dsaii_core.bench import map_store, metrics
from dsaii_core.bench.dataset import read_mvtec
from dsaii_core.bench.detectors import DetectorSpec
from dsaii_core.bench.map_store import AnomalyMap
from dsaii_core.bench.outcomes import class_curves, class_outcome
from dsaii_core.bench.runs import DATASET_FOLDER, import_run, metrics_frame
from dsaii_core.demo import DEMO_DIR
from dsaii_core.errors import DsaiiError


def test_codes_keep_the_order_of_scores_across_the_class_and_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    maps = {"good/000": AnomalyMap(rng.normal(3, 1, (20, 30)).astype(np.float32), (40, 60)),
            "crack/000": AnomalyMap(rng.normal(5, 2, (20, 30)).astype(np.float32), (41, 59))}
    stored = map_store.write_class(tmp_path, "nut", maps)
    assert map_store.read_class(tmp_path, "nut").keys() == stored.keys() == maps.keys()
    before = np.concatenate([m.values.ravel() for m in maps.values()])
    after = np.concatenate([m.values.ravel() for m in stored.values()])
    step = (before.max() - before.min()) / map_store.LEVELS
    assert np.abs(after - before).max() <= step / 2 + 1e-6
    order = np.argsort(before, kind="stable")
    assert np.all(np.diff(after[order]) >= 0)            # monotone: ties possible, no swaps
    for key, original in maps.items():
        again = map_store.read_class(tmp_path, "nut")[key]
        assert again.shape == original.shape and np.array_equal(again.values, stored[key].values)
        assert map_store.read_map(tmp_path, "nut", key).shape == original.shape
    assert map_store.write_class(tmp_path, "flat", {"a/0": AnomalyMap(np.ones((4, 4), np.float32), (4, 4))})[
        "a/0"].values.tolist() == np.ones((4, 4)).tolist()
    with pytest.raises(DsaiiError, match="finite"):
        map_store.write_class(tmp_path, "bad", {"a/0": AnomalyMap(np.full((2, 2), np.nan, np.float32), (2, 2))})


def test_a_real_run_stores_an_eighth_of_the_float32_bytes_with_metrics_within_1e_4(tmp_path):
    """The weak baseline on MVTec hazelnut: its maps at 224² instead of float32 at the images' 1024²."""
    split, = read_mvtec(DEMO_DIR, ["hazelnut"])
    detector = DetectorSpec("baseline", device="cpu").build()
    detector.fit([imageio.read_image(p) for p in split.train[:6]])
    predictions = dict(zip([s.key for s in split.test], detector.predict([imageio.read_image(s.image)
                                                                          for s in split.test])))
    stored = map_store.write_class(tmp_path, "hazelnut", {k: m for k, (_, m) in predictions.items()})
    full_precision = [predictions[s.key][1].full() for s in split.test]
    float32_bytes = sum(m.nbytes for m in full_precision)
    assert map_store.stored_bytes(tmp_path) * 8 <= float32_bytes
    masks = [s.read_mask(m.shape) for s, m in zip(split.test, full_precision)]
    exact = metrics.pixel_metrics(masks, full_precision)
    compact = metrics.pixel_metrics(masks, [stored[s.key].full() for s in split.test])
    for name, value in exact.items():
        assert compact[name] == pytest.approx(value, abs=1e-4), name


def to_legacy_run(folder, split_names):
    """Rewrite a run folder as runs were stored before the compact format: float32 .npy per test image."""
    for split in read_mvtec(folder / DATASET_FOLDER, test_only=True):
        maps = map_store.read_class(folder, split.folder.name)
        for key, anomaly_map in maps.items():
            path = map_store.legacy_file(folder, split.folder.name, key)
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, anomaly_map.full())
    shutil.rmtree(folder / map_store.MAPS_FOLDER)


def test_runs_stored_before_the_compact_format_still_work(run_ws, tmp_path):
    run, = run_ws.catalog.runs()
    folder = run_ws.path(run.maps_dir)
    before = class_curves(class_outcome(run_ws, run.id, "hazelnut"), points=64)
    to_legacy_run(folder, ["hazelnut", "transistor"])
    assert not map_store.has_class(folder, "hazelnut") and map_store.stored_bytes(folder) > 0
    outcome = class_outcome(run_ws, run.id, "hazelnut")
    after = class_curves(outcome, points=64)
    assert outcome.read_map(outcome.split.test[0].key).dtype == np.float32
    for name in before:
        assert np.allclose(before[name][1], after[name][1])
    report = import_run(run_ws.root, folder, "legacy copy", seed=0)
    frame = metrics_frame(run_ws).pivot_table(index=["class", "metric"], columns="run_id", values="value")
    assert np.allclose(frame[run.id], frame[report.run_id], atol=1e-4, equal_nan=True)
    assert map_store.has_class(run_ws.path(run_ws.catalog.runs()[-1].maps_dir), "hazelnut")
