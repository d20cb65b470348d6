"""AppTest of the Export page: a folder per layout, the classes to export, the export job, the validate report,
a lazy zip."""

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from dsaii_core import export as export_module
from dsaii_core import jobs
from dsaii_core.cli import main
from tests.fixtures.jobs_here import jobs_in_process  # noqa: F401 (a fixture)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def run_jobs_here(jobs_in_process):
    """The Export button's job runs within the click's script run (one test below starts a real worker)."""
    return jobs_in_process


def page(ws) -> AppTest:
    at = AppTest.from_file(str(REPO / "app_pages/export.py"), default_timeout=60)
    at.session_state["workspace_path"] = str(ws.root)
    return at.run()


def test_each_layout_defaults_to_its_own_folder_beside_the_workspace(demo_ws, tmp_path):
    at = page(demo_ws)
    assert at.text_input(key="export_out").value == str(tmp_path / "demo-ws-export-dsaii")
    at.radio(key="export_layout").set_value("mvtec").run()
    assert at.text_input(key="export_out").value == str(tmp_path / "demo-ws-export-mvtec")
    at.text_input(key="export_out").set_value(str(tmp_path / "mine-mvtec")).run()
    at.radio(key="export_layout").set_value("dsaii").run()
    assert at.text_input(key="export_out").value == str(tmp_path / "demo-ws-export-dsaii")
    at.radio(key="export_layout").set_value("mvtec").run()
    assert at.text_input(key="export_out").value == str(tmp_path / "mine-mvtec")  # each layout keeps its choice


def test_the_mvtec_export_does_not_replace_the_dsaii_export(demo_ws, tmp_path):
    at = page(demo_ws)
    at.button(key="export").click().run()
    at.radio(key="export_layout").set_value("mvtec").run()
    at.button(key="export").click().run()
    assert not at.exception
    for layout in ("dsaii", "mvtec"):
        manifest = json.loads((tmp_path / f"demo-ws-export-{layout}/manifest.json").read_text())
        assert manifest["layout"] == layout


def test_classes_without_kept_normals_are_listed_but_not_chosen(demo_ws, tmp_path):
    demo_ws.add_class("empty_class")
    at = page(demo_ws)
    classes = at.multiselect(key="export_classes")
    assert "empty_class  ·  no kept normal images" in classes.options
    assert classes.value == ["ball_screw", "hazelnut", "magnetic_tile", "transistor"]
    classes.set_value(["hazelnut"]).run()
    at.button(key="export").click().run()
    assert not at.exception
    out = tmp_path / "demo-ws-export-dsaii"
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["hazelnut"]
    assert "dsaii export: 1 classes" in at.success[0].value


def test_no_class_chosen_disables_export(demo_ws):
    at = page(demo_ws)
    at.multiselect(key="export_classes").set_value([]).run()
    assert at.button(key="export").disabled
    assert any("at least one class" in c.value for c in at.caption)


def test_a_clean_export_shows_validate_s_success_line(demo_ws):
    at = page(demo_ws)
    at.button(key="export").click().run()
    assert not at.exception
    assert [s.value for s in at.success][1].startswith("validate: no problem found in 94 images and 34 masks")
    assert not at.error


def test_problems_found_by_validate_are_shown_in_a_table(demo_ws):
    hazelnut = demo_ws.get_class("hazelnut")
    first = demo_ws.catalog.items(hazelnut.id, "normal")[0]
    demo_ws.add_image(demo_ws.get_class("transistor"), demo_ws.read_image(first))   # the same photo in two classes
    demo_ws.add_image(hazelnut, np.full((64, 64, 3), 90, np.uint8))   # both added without a license
    at = page(demo_ws)
    at.button(key="export").click().run()
    assert not at.exception
    assert at.error[0].value == "validate: 4 problem(s) in the export."
    table = at.dataframe[1].value
    assert list(table.columns) == ["file", "problem", "kind"]
    rows = sorted(zip(table["file"], table["kind"]))
    assert rows == [("hazelnut/normal/018.png", "blank"), ("hazelnut/normal/018.png", "provenance"),
                    ("transistor/normal/014.png", "duplicate"), ("transistor/normal/014.png", "provenance")]
    assert "exact duplicate of hazelnut/normal/000.png" in set(table["problem"])


def test_the_zip_is_not_built_on_every_rerun(demo_ws, monkeypatch):
    at = page(demo_ws)
    at.button(key="export").click().run()

    def no_zip(folder, cache):
        raise AssertionError("zipped on a rerun")

    monkeypatch.setattr(export_module, "zip_export", no_zip)
    at.run()
    assert not at.exception and at.get("download_button")


def test_a_foreign_folder_is_refused_on_one_line(demo_ws, tmp_path):
    (tmp_path / "web/src").mkdir(parents=True)
    (tmp_path / "web/manifest.json").write_text("{}")
    at = page(demo_ws)
    at.text_input(key="export_out").set_value(str(tmp_path / "web")).run()
    at.button(key="export").click().run()
    assert not at.exception
    assert "not an earlier export" in at.error[0].value and "\n" not in at.error[0].value
    assert (tmp_path / "web/manifest.json").read_text() == "{}"


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_the_page_and_the_command_write_the_same_bytes(demo_ws, tmp_path, jobs_in_process):
    at = page(demo_ws)
    at.radio(key="export_layout").set_value("mvtec").run()
    at.text_input(key="export_out").set_value(str(tmp_path / "from-page")).run()
    at.button(key="export").click().run()
    [job] = jobs.list_jobs(demo_ws.catalog, "export")
    assert jobs_in_process == [job.id] and job.state == "done" and job.total == 4
    assert any(f"Job {job.id}" in str(p.proto) and "done" in str(p.proto) for p in at.get("progress"))
    try:
        main(["export", str(demo_ws.root), str(tmp_path / "from-cli"), "--layout", "mvtec", "--workers", "1"])
    except SystemExit as exc:
        assert exc.code in (0, None)
    assert tree(tmp_path / "from-page") == tree(tmp_path / "from-cli")


def test_the_export_runs_in_a_background_worker(demo_ws, tmp_path, monkeypatch):
    monkeypatch.undo()  # a real worker process
    at = page(demo_ws)
    at.button(key="export").click().run()
    [job] = jobs.list_jobs(demo_ws.catalog, "export")
    assert job.pid is not None and job.pid != os.getpid()
    deadline = time.time() + 120
    while jobs.get_job(demo_ws.catalog, job.id).state not in ("done", "failed") and time.time() < deadline:
        time.sleep(0.2)
    assert jobs.get_job(demo_ws.catalog, job.id).state == "done"
    at.run()
    assert at.success[0].value.startswith("dsaii export: 4 classes")
    assert at.success[1].value.startswith("validate: no problem found in 94 images and 34 masks")
    assert (tmp_path / "demo-ws-export-dsaii/manifest.json").is_file()
