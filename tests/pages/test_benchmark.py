"""AppTest of the Benchmark page: run the baseline and anomalib's models, see the dashboards (real against
synthetic anomalies too), import maps, galleries."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dsaii_core import jobs
from dsaii_core.workspace import Workspace
from tests.fixtures.bench_data import build_bench_workspace, build_origins_workspace, build_run_workspace

PAGE = str(Path(__file__).resolve().parents[2] / "app_pages" / "benchmark.py")


@pytest.fixture(scope="module")
def templates(tmp_path_factory):
    bench = build_bench_workspace(tmp_path_factory.mktemp("bench") / "ws")
    return bench, build_run_workspace(bench, tmp_path_factory.mktemp("run") / "ws")


def page(root: Path) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.session_state["workspace_path"] = str(root)
    at.session_state["class_name"] = "hazelnut"
    return at.run()


def charts(at: AppTest) -> list:
    return at.get("plotly_chart")


def test_running_the_baseline_in_the_background_fills_the_dashboards(templates, tmp_path):
    shutil.copytree(templates[0], tmp_path / "ws")
    at = page(tmp_path / "ws")
    assert not at.exception
    assert any("No runs yet" in i.value for i in at.info)
    assert any("weak" in c.value for c in at.caption)
    at.number_input(key="bench_shots").set_value(3)
    at.button(key="bench_run").click().run()
    assert not at.exception, at.exception
    assert at.multiselect(key="bench_chosen").value == [1]
    ws = Workspace.open(tmp_path / "ws")
    job = jobs.list_jobs(ws.catalog, "bench")[0]
    deadline = time.time() + 180
    while jobs.get_job(ws.catalog, job.id).state in jobs.ACTIVE_STATES and time.time() < deadline:
        time.sleep(1)
    assert jobs.get_job(ws.catalog, job.id).state == "done"
    at.run()
    assert not at.exception, at.exception
    assert len(charts(at)) == 7          # 4 metric bars, heatmap, ROC, PRO


def wait_for(ws: Workspace, job_id: int, seconds: float = 300) -> str:
    deadline = time.time() + seconds
    while jobs.get_job(ws.catalog, job_id).state in jobs.ACTIVE_STATES and time.time() < deadline:
        time.sleep(1)
    job = jobs.get_job(ws.catalog, job_id)
    assert job.state == "done", (job.state, job.error, jobs.item_errors(ws.catalog, job_id))
    return job.state


def test_two_anomalib_models_train_in_the_background_and_show_real_against_synthetic(tmp_path):
    """Patchcore and Padim, one epoch on a tiny hazelnut (64², 14 train normals; 8 real and 6 synthetic anomalies)
    with random resnet18 weights from a file, each run as a background job; both land in the dashboard."""
    pytest.importorskip("anomalib")
    import torch
    import torchvision
    torch.manual_seed(0)
    weights = tmp_path / "resnet18-random.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), weights)
    root = build_origins_workspace(tmp_path / "ws", size=64)
    at = page(root)
    at.radio(key="bench_detector").set_value("anomalib").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="bench_anomalib_model").value == "Patchcore"
    at.text_input(key="bench_anomalib_backbone").input("resnet18")
    at.number_input(key="bench_image_size").set_value(64)
    at.number_input(key="bench_epochs").set_value(1)
    at.selectbox(key="bench_device").set_value("cpu")
    at.text_input(key="bench_anomalib_weights").input(str(weights)).run()
    ws = Workspace.open(root)
    for run_id, model in enumerate(("Patchcore", "Padim"), start=1):
        at.selectbox(key="bench_anomalib_model").set_value(model).run()
        at.button(key="bench_run").click().run()
        assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
        assert at.multiselect(key="bench_chosen").value == [run_id]
        wait_for(ws, jobs.list_jobs(ws.catalog, "bench")[0].id)
    at.multiselect(key="bench_chosen").set_value([1, 2]).run()
    assert not at.exception, at.exception
    assert at.multiselect(key="bench_chosen").options == ["#1 anomalib:Patchcore (anomalib:Patchcore)",
                                                         "#2 anomalib:Padim (anomalib:Padim)"]
    assert [t.label for t in at.tabs][-1] == "Real vs synthetic"
    assert len(charts(at)) == 8          # 4 metric bars, heatmap, real vs synthetic, ROC, PRO
    table = at.dataframe[0].value
    assert table.index.names == ["run", "class", "anomalies"]
    assert {"real", "synthetic", "all"} == set(table.index.get_level_values("anomalies"))
    assert table["image_auroc"].between(0, 1).all()


def test_without_anomalib_the_page_says_how_to_add_it(templates, tmp_path, monkeypatch):
    from dsaii_core.bench import anomalib_detector
    shutil.copytree(templates[0], tmp_path / "ws")
    monkeypatch.setattr(anomalib_detector, "installed", lambda: False)
    at = page(tmp_path / "ws")
    at.radio(key="bench_detector").set_value("anomalib").run()
    assert not at.exception
    assert any("requirements-anomalib.txt" in i.value for i in at.info)
    assert at.button(key="bench_run").disabled


def test_dashboard_of_a_stored_run(templates, tmp_path):
    shutil.copytree(templates[1], tmp_path / "ws")
    at = page(tmp_path / "ws")
    assert not at.exception, at.exception
    assert at.multiselect(key="bench_chosen").options == ["#1 baseline (weak baseline)"]
    assert len(charts(at)) == 7
    table = at.dataframe[0].value
    assert list(table.index.get_level_values("class")) == ["hazelnut", "transistor", "mean"]
    assert [b.label for b in at.get("download_button")] == ["Download CSV"]
    assert len(at.image) == 8             # 4 worst false positives + 4 worst false negatives
    at.selectbox(key="bench_reference").select_index(1).run()
    at.selectbox(key="bench_detail_class").set_value("transistor").run()
    assert not at.exception, at.exception


def test_one_class_panel_opens_on_a_class_with_anomalies(templates, tmp_path):
    """It opened on the sidebar's class even when that class had no anomalies: an empty ROC and 'None'."""
    shutil.copytree(templates[1], tmp_path / "ws")
    ws = Workspace.open(tmp_path / "ws")
    ws.add_class("empty")
    ws.catalog.set_run_metrics(1, "empty", {"image_auroc": None, "pixel_auroc": None})
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.session_state["workspace_path"] = str(ws.root)
    at.session_state["class_name"] = "empty"
    at.run()
    assert not at.exception, at.exception
    detail = at.selectbox(key="bench_detail_class")
    assert detail.value == "hazelnut" and detail.options[-1] == "empty (no anomalies)"
    assert len(charts(at)) == 7
    detail.set_value("empty").run()
    assert not at.exception and any("has no anomalies in this run" in i.value for i in at.info)
    assert len(charts(at)) == 5  # no empty ROC / PRO plots


def test_importing_maps_adds_a_run(templates, tmp_path):
    shutil.copytree(templates[1], tmp_path / "ws")
    maps = next((tmp_path / "ws" / "runs").iterdir())
    at = page(tmp_path / "ws")
    at.text_input(key="bench_maps_dir").input(str(maps))
    at.text_input(key="bench_import_name").input("copy").run()
    at.button(key="bench_import").click().run()
    assert not at.exception, at.exception
    assert at.multiselect(key="bench_chosen").value == [2]
    at.multiselect(key="bench_chosen").set_value([1, 2]).run()
    assert not at.exception
    table = at.dataframe[0].value
    assert len(table) == 6


def test_import_errors_show_on_the_page(templates, tmp_path):
    shutil.copytree(templates[1], tmp_path / "ws")
    at = page(tmp_path / "ws")
    at.text_input(key="bench_maps_dir").input(str(tmp_path / "nowhere")).run()
    at.button(key="bench_import").click().run()
    assert not at.exception
    assert any("no such folder of maps" in e.value for e in at.error)


def test_workspace_without_classes(tmp_path):
    at = page(tmp_path / "empty")
    assert not at.exception
    assert any("Nothing to benchmark" in i.value for i in at.info)
