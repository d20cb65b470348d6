"""Plotly figures and tables of benchmark runs: per-class bars, classes × runs heatmap, ROC / PRO curves,
and the worst false positives / negatives with the map over the image and the ground truth outlined.

Inputs are the long metrics table of runs.metrics_frame (run, class, anomalies, metric, value) and the
reference tables of references.py; nothing here reads files. The per-class figures use the metrics on all
anomalies; `origin_bars` puts real and synthetic anomalies side by side.
"""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dsaii_core.bench.outcomes import Case
from dsaii_core.bench.runs import wide_metrics
from dsaii_core.overlay import overlay_mask

METRIC_LABELS = {"image_auroc": "Image AUROC", "pixel_auroc": "Pixel AUROC", "aupro": "AUPRO (FPR ≤ 0.3)",
                 "f1_max": "Image F1-max", "pixel_f1_max": "Pixel F1-max"}
DASHBOARD_METRICS = ("image_auroc", "pixel_auroc", "aupro", "f1_max")
_LINE_STYLES = ("dot", "dash", "dashdot", "longdash")
ORIGIN_LABELS = {"all": "all anomalies", "real": "real anomalies", "synthetic": "synthetic anomalies"}


def on_all(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of metrics computed on all anomalies (the per-class figures' input)."""
    return frame[frame["anomalies"] == "all"] if "anomalies" in frame.columns else frame


def wide_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (run, class), one column per metric, plus a 'mean' class row per run; a third index level,
    anomalies (all / real / synthetic), when some class has both real and synthetic anomalies."""
    return wide_metrics(frame, outer=("run",))


def has_origins(frame: pd.DataFrame) -> bool:
    """Whether some run measured real and synthetic anomalies apart."""
    return "anomalies" in frame.columns and bool((frame["anomalies"] != "all").any())


def classes_with_anomalies(frame: pd.DataFrame, run_id: int) -> tuple[list[str], list[str]]:
    """A run's classes split into (those with an image AUROC, those without: no anomalies to score), sorted."""
    frame = on_all(frame)
    rows = frame[frame["run_id"] == run_id]
    scored = set(rows[(rows["metric"] == "image_auroc") & rows["value"].notna()]["class"])
    return sorted(scored), sorted(set(rows["class"]) - scored)


def metric_bars(frame: pd.DataFrame, metric: str, *, dsaii_means: pd.DataFrame | None = None,
                reference: pd.DataFrame | None = None) -> go.Figure:
    """Grouped bars of one metric per class, one colour per run; DSAII means as lines, a reference table as markers."""
    data = on_all(frame)
    data = data[data["metric"] == metric]
    classes = sorted(data["class"].unique())
    figure = go.Figure()
    for run, rows in data.groupby("run", sort=False):
        values = rows.set_index("class")["value"].reindex(classes)
        figure.add_bar(x=classes, y=values, name=run, text=[f"{v:.3f}" if pd.notna(v) else "n/a" for v in values],
                       textposition="outside", cliponaxis=False)
    if reference is not None and not reference.empty:
        ref = reference[(reference["metric"] == metric) & reference["class"].isin(classes)]
        if not ref.empty:
            figure.add_scatter(x=ref["class"], y=ref["value"], mode="markers", name=ref["source"].iloc[0],
                               marker={"symbol": "diamond", "size": 11, "color": "black"})
    if dsaii_means is not None:
        for style, row in zip(_LINE_STYLES, dsaii_means[dsaii_means["metric"] == metric].itertuples()):
            figure.add_hline(y=row.value, line_dash=style, line_color="grey",
                             annotation_text=f"{row.source} mean {row.value:.1%}", annotation_position="top left")
    figure.update_layout(barmode="group", title=METRIC_LABELS.get(metric, metric), yaxis_range=[0, 1.08],
                         yaxis_title=METRIC_LABELS.get(metric, metric), xaxis_title="class",
                         legend={"orientation": "h", "y": -0.25}, margin={"t": 50, "b": 10})
    return figure


def runs_heatmap(frame: pd.DataFrame, metric: str) -> go.Figure:
    """Classes × runs heatmap of one metric, values written in the cells."""
    data = on_all(frame)
    data = data[data["metric"] == metric]
    table = data.pivot_table(index="class", columns="run", values="value", aggfunc="first", dropna=False)
    table = table[[r for r in data["run"].unique() if r in table.columns]]
    text = [[f"{v:.3f}" if pd.notna(v) else "" for v in row] for row in table.to_numpy()]
    figure = go.Figure(go.Heatmap(z=table.to_numpy(), x=list(table.columns), y=list(table.index), zmin=0, zmax=1,
                                  colorscale="Viridis", text=text, texttemplate="%{text}",
                                  colorbar={"title": METRIC_LABELS.get(metric, metric)}))
    figure.update_layout(title=f"{METRIC_LABELS.get(metric, metric)}: classes × runs", yaxis_autorange="reversed",
                         margin={"t": 50})
    return figure


def origin_bars(frame: pd.DataFrame, metric: str) -> go.Figure:
    """One metric per class on real only, synthetic only and all anomalies (with all the normals), per run: the
    classes that have both kinds, plus their mean."""
    data = frame[frame["metric"] == metric]
    classes = sorted(set(data.loc[data["anomalies"] != "all", "class"]))
    data = data[data["class"].isin(classes)]
    figure = go.Figure()
    x = classes + ["mean"]
    for (run, anomalies), rows in sorted(data.groupby(["run", "anomalies"], sort=False),
                                        key=lambda item: (list(data["run"].unique()).index(item[0][0]),
                                                          list(ORIGIN_LABELS).index(item[0][1]))):
        values = rows.set_index("class")["value"].astype(float).reindex(classes)
        values = pd.concat([values, pd.Series({"mean": values.mean()})])
        figure.add_bar(x=x, y=values, name=f"{run} · {ORIGIN_LABELS[anomalies]}",
                       text=[f"{v:.3f}" if pd.notna(v) else "n/a" for v in values], textposition="outside",
                       cliponaxis=False, marker_pattern_shape={"all": "", "real": "/", "synthetic": "."}[anomalies])
    label = METRIC_LABELS.get(metric, metric)
    figure.update_layout(barmode="group", title=f"{label}: real against synthetic anomalies", yaxis_range=[0, 1.08],
                         yaxis_title=label, xaxis_title="class", legend={"orientation": "h", "y": -0.25},
                         margin={"t": 50, "b": 10})
    return figure


def curves_figure(curves: dict[str, tuple[np.ndarray, np.ndarray]], title: str, *, names: list[str],
                  fpr_limit: float | None = None) -> go.Figure:
    """ROC-style curves (x = false-positive rate), the chance diagonal, and the AUPRO limit if given."""
    figure = go.Figure()
    for name in names:
        if name in curves:
            x, y = curves[name]
            figure.add_scatter(x=x, y=y, mode="lines", name=name)
    figure.add_scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance", line={"dash": "dot", "color": "grey"})
    if fpr_limit is not None:
        figure.add_vline(x=fpr_limit, line_dash="dash", annotation_text=f"AUPRO limit {fpr_limit}")
    figure.update_layout(title=title, xaxis_title="false-positive rate", yaxis_title="true-positive rate / PRO",
                         xaxis_range=[0, 1], yaxis_range=[0, 1.02], margin={"t": 50})
    return figure


def case_overlay(case: Case, low: float, high: float, opacity: float = 0.5) -> np.ndarray:
    """The image with its anomaly map as a heat overlay (scaled to [low, high]) and the ground truth outlined."""
    height, width = case.image.shape[:2]
    score_map = cv2.resize(case.anomaly_map.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
    scaled = np.clip((score_map - low) / (high - low) if high > low else np.zeros_like(score_map), 0, 1)
    heat = cv2.cvtColor(cv2.applyColorMap((scaled * 255).astype(np.uint8), cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)
    blended = (case.image.astype(np.float32) * (1 - opacity) + heat.astype(np.float32) * opacity).astype(np.uint8)
    return overlay_mask(blended, case.mask, colour=(0, 255, 0), opacity=0.0, outline_px=2)


def cases_range(cases: list[Case]) -> tuple[float, float]:
    """A common heat scale for a gallery: from the lowest map value to the highest image score."""
    if not cases:
        return 0.0, 1.0
    return min(float(c.anomaly_map.min()) for c in cases), max(float(c.anomaly_map.max()) for c in cases)
