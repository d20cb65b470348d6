"""Runs: a built-in detector on a workspace, stored in the catalog with its maps, compared with others."""

from __future__ import annotations

import numpy as np
import pytest

from dsaii_core.bench import map_store, metrics
from dsaii_core.bench.dataset import benchmark_root, read_mvtec
from dsaii_core.bench.detectors import DetectorSpec
from dsaii_core.bench.runs import DATASET_FOLDER, METRICS, compare_runs, metrics_frame, run_detector, stored_scores
from dsaii_core.errors import DsaiiError


def test_baseline_run_is_stored_with_metrics_settings_and_maps(run_ws):
    run, = run_ws.catalog.runs()
    assert run.detector == "baseline" and run.settings["shots"] == 5 and run.settings["seed"] == 0
    assert "weak baseline" in run.settings["label"]
    frame = metrics_frame(run_ws)
    assert set(frame["class"]) == {"hazelnut", "transistor"} and set(frame["metric"]) == set(METRICS)
    assert frame["value"].between(0, 1).all()
    maps_dir = run_ws.path(run.maps_dir)
    scores = stored_scores(run_ws, run.id)
    with benchmark_root(run_ws.root, seed=0) as (root, _):
        for split in read_mvtec(root):
            assert len(scores[scores["class"] == split.name]) == len(split.test)
            labels = [s.label for s in split.test]
            stored = map_store.read_class(maps_dir, split.folder.name)
            maps = [stored[s.key].full() for s in split.test]
            assert all(stored[s.key].values.shape == (224, 224) for s in split.test)   # the detector's resolution
            image = [float(scores[(scores["class"] == split.name) & (scores["image"] == s.key)]["score"].iloc[0])
                     for s in split.test]
            stored = frame[(frame["class"] == split.name)].set_index("metric")["value"]
            assert stored["image_auroc"] == pytest.approx(metrics.image_auroc(labels, image))
            masks = [s.read_mask(m.shape) for s, m in zip(split.test, maps)]
            assert stored["aupro"] == pytest.approx(metrics.aupro(masks, maps))


def test_runs_are_reproducible_and_comparable(run_ws):
    run_detector(run_ws.root, DetectorSpec("baseline", seed=0), shots=5, name="again", class_names=["hazelnut"])
    first, second = (r.id for r in run_ws.catalog.runs())
    table = compare_runs(run_ws, [first, second], "pixel_auroc")
    assert list(table.columns) == [f"#{first} baseline", f"#{second} again"]
    assert table.loc["hazelnut"].iloc[0] == table.loc["hazelnut"].iloc[1]
    assert np.isnan(table.loc["transistor"].iloc[1])
    with pytest.raises(DsaiiError, match="unknown metric"):
        compare_runs(run_ws, [first], "accuracy")


def test_run_on_an_mvtec_folder_is_not_stored(tmp_path, bench_ws):
    report = run_detector(bench_ws.root, DetectorSpec("baseline"), shots=3, class_names=["hazelnut"])
    assert report.run_id is not None
    export = tmp_path / "export"
    from dsaii_core.export import export_workspace
    export_workspace(bench_ws, export, "mvtec", seed=0)
    folder_report = run_detector(export, DetectorSpec("baseline"), shots=3, class_names=["hazelnut"])
    assert folder_report.run_id is None
    assert folder_report.classes[0].metrics == report.classes[0].metrics
    assert len(bench_ws.catalog.runs()) == 1


def test_undefined_metrics_are_none_with_a_note(tmp_path):
    from dsaii_core.demo import DEMO_DIR
    report = run_detector(DEMO_DIR, DetectorSpec("baseline"), shots=2, class_names=["ball_screw"],
                          maps_out=tmp_path / "maps")
    result, = report.classes
    assert result.metrics["image_auroc"] is None and "one class" in result.notes[1]
    assert result.metrics["pixel_auroc"] is not None


def test_real_and_synthetic_anomalies_are_scored_apart_and_together(tmp_path):
    """A class with imported (real) defects and inpainted (synthetic) ones: every metric on each kind apart, with all
    the normals, stored beside the metrics on all anomalies."""
    from dsaii_core.workspace import Workspace
    from tests.fixtures.bench_data import build_origins_workspace
    ws = Workspace.open(build_origins_workspace(tmp_path / "ws", size=96))
    report = run_detector(ws.root, DetectorSpec("baseline", device="cpu"))
    result, = report.classes
    split, = read_mvtec(report.maps_dir / DATASET_FOLDER, test_only=True)
    assert {s.origin for s in split.test} == {"normal", "real", "synthetic"}
    stored = map_store.read_class(report.maps_dir, split.folder.name)
    for origin in ("real", "synthetic"):
        subset = [s for s in split.test if s.origin in ("normal", origin)]
        labels = [s.label for s in subset]
        assert result.metrics[f"image_auroc@{origin}"] == pytest.approx(
            metrics.image_auroc(labels, [result.scores[s.key] for s in subset]))
        maps = [stored[s.key].full() for s in subset]
        assert result.metrics[f"aupro@{origin}"] == pytest.approx(
            metrics.aupro([s.read_mask(m.shape) for s, m in zip(subset, maps)], maps))
    assert "8 real and 6 synthetic anomalies" in result.notes[-1]
    frame = metrics_frame(ws)
    assert set(frame["anomalies"]) == {"all", "real", "synthetic"} and set(frame["metric"]) == set(METRICS)
    table = report.table()
    assert list(table.index) == [("hazelnut", "all"), ("hazelnut", "real"), ("hazelnut", "synthetic"),
                                 ("mean", "all"), ("mean", "real"), ("mean", "synthetic")]
    assert table.loc[("hazelnut", "real"), "image_auroc"] == result.metrics["image_auroc@real"]
    assert compare_runs(ws, [1], "image_auroc", anomalies="synthetic").loc["hazelnut"].iloc[0] == \
        result.metrics["image_auroc@synthetic"]
