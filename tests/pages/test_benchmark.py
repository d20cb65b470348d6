"""AppTest of the Benchmark page: run the baseline, see the dashboards, import maps, galleries."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dsaii_core import jobs
from dsaii_core.workspace import Workspace
from tests.fixtures.bench_data import build_bench_workspace, build_run_workspace

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
