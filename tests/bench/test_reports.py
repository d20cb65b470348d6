"""Figures and galleries of a stored run."""

import numpy as np
import pytest

from dsaii_core.bench import references, reports
from dsaii_core.bench.outcomes import class_curves, class_outcome, worst_cases
from dsaii_core.bench.runs import metrics_frame


def test_bars_have_one_bar_per_class_and_reference_lines(run_ws):
    frame = metrics_frame(run_ws)
    figure = reports.metric_bars(frame, "image_auroc", dsaii_means=references.dsaii_means(),
                                 reference=references.reference_table(references.reference_sources()[0]))
    bars = [t for t in figure.data if t.type == "bar"]
    assert len(bars) == 1 and list(bars[0].x) == ["hazelnut", "transistor"]
    markers = [t for t in figure.data if t.type == "scatter"]
    assert list(markers[0].x) == ["hazelnut", "transistor"] and max(markers[0].y) <= 1
    assert sorted(s.y0 for s in figure.layout.shapes) == pytest.approx([0.572, 0.691])


def test_heatmap_and_wide_table(run_ws):
    frame = metrics_frame(run_ws)
    heatmap = reports.runs_heatmap(frame, "aupro")
    assert np.asarray(heatmap.data[0].z).shape == (2, 1)
    table = reports.wide_table(frame)
    assert list(table.index.get_level_values("class")) == ["hazelnut", "transistor", "mean"]
    assert table.loc[table.index[2], "pixel_auroc"] == pytest.approx(table["pixel_auroc"].iloc[:2].mean())


def test_curves_and_worst_cases_of_a_class(run_ws):
    run_id = run_ws.catalog.runs()[0].id
    outcome = class_outcome(run_ws, run_id, "hazelnut")
    curves = class_curves(outcome, points=64)
    for name in ("image ROC", "pixel ROC", "PRO"):
        x, y = curves[name]
        assert (x[0], y[0]) == (0, 0) and x[-1] == pytest.approx(1) and y[-1] == pytest.approx(1)
    figure = reports.curves_figure(curves, "hazelnut", names=["pixel ROC", "PRO"], fpr_limit=0.3)
    assert [t.name for t in figure.data] == ["pixel ROC", "PRO", "chance"]
    cases = worst_cases(outcome, count=2)
    assert [c.kind for c in cases] == ["false positive"] * 2 + ["false negative"] * 2
    normals = [outcome.scores[s.key] for s in outcome.split.test if s.label == 0]
    assert cases[0].score == max(normals)
    low, high = reports.cases_range(cases)
    shown = reports.case_overlay(cases[2], low, high)
    assert shown.shape == cases[2].image.shape and shown.dtype == np.uint8
    outline = np.all(shown == (0, 255, 0), axis=2)
    assert outline.any() and not outline[cases[2].mask == 0].all()
