"""AppTest of the navigation shell, the sidebar and the Collect / Export pages."""

import io
import zipfile
from pathlib import Path

import numpy as np
from streamlit.testing.v1 import AppTest

from dsaii_core import imageio
from tests.fixtures.jobs_here import jobs_in_process  # noqa: F401 (a fixture)

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 60


def app(ws_root, page: str | None = None) -> AppTest:
    """The whole app (shell + sidebar) on a workspace, switched to `page` when given."""
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=TIMEOUT)
    at.session_state["workspace_path"] = str(ws_root)
    if page:
        at.run()
        at.switch_page(page)
    return at


def test_shell_shows_classes_with_counts(demo_ws):
    at = app(demo_ws.root).run()
    assert not at.exception
    picker = at.sidebar.selectbox[0]
    assert picker.options == ["ball_screw  ·  12 normal", "hazelnut  ·  18 normal",
                              "magnetic_tile  ·  16 normal", "transistor  ·  14 normal"]
    assert at.title[0].value == "Collect"


def test_empty_workspace_says_what_to_do(tmp_path):
    at = app(tmp_path / "new-ws").run()
    assert not at.exception
    assert any("No classes yet" in c.value for c in at.sidebar.caption)


def test_upload_of_images_and_zip_adds_them(tiny_ws):
    at = app(tiny_ws.root).run()  # Collect is the default page
    good = imageio.encode_png(np.random.default_rng(1).integers(0, 255, (20, 20, 3), dtype=np.uint8))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("bolts/a.png", imageio.encode_png(np.random.default_rng(2).integers(0, 255, (8, 8, 3),
                                                                                          dtype=np.uint8)))
    uploader = at.file_uploader[0]
    uploader.upload("new.png", good, "image/png").upload("broken.png", b"xx", "image/png")
    uploader.upload("more.zip", buffer.getvalue(), "application/zip")
    at.text_input(key="upload_class").set_value("hazelnut")
    at.button[0].click().run()
    assert not at.exception
    assert len(tiny_ws.catalog.items()) == 5
    assert [c.name for c in tiny_ws.classes()] == ["bolts", "hazelnut"]
    assert any("broken.png" in m.value for m in at.markdown)
    assert "2 images added" in at.warning[0].value
    assert at.session_state["next_class"] == "hazelnut"


def test_sidebar_switches_to_the_class_a_page_asked_for(demo_ws):
    at = app(demo_ws.root)
    at.session_state["next_class"] = "transistor"
    at.run()
    assert at.sidebar.selectbox[0].value == "transistor"
    assert [m.value for m in at.sidebar.metric][0] == "14"


def test_folder_import_with_a_missing_folder_shows_an_error(tiny_ws, tmp_path):
    at = app(tiny_ws.root).run()
    at.text_input(key="folder_path").set_value(str(tmp_path / "missing")).run()
    at.button(key="import_folder").click().run()
    assert not at.exception
    assert "no such file or folder" in at.error[0].value


def test_export_page_writes_and_offers_a_zip(demo_ws, tmp_path, jobs_in_process):
    at = app(demo_ws.root, "app_pages/export.py").run()
    at.radio[0].set_value("mvtec")
    at.text_input(key="export_out").set_value(str(tmp_path / "out"))
    at.button[0].click().run()
    assert not at.exception
    assert (tmp_path / "out/manifest.json").is_file() and len(jobs_in_process) == 1
    assert any("mvtec export: 4 classes" in s.value for s in at.success)
    assert at.get("download_button")


def test_export_page_error_keeps_the_page_working(demo_ws, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine/keep.txt").write_text("x")
    at = app(demo_ws.root, "app_pages/export.py").run()
    at.text_input(key="export_out").set_value(str(tmp_path / "mine"))
    at.button[0].click().run()
    assert not at.exception
    assert "not an earlier export" in at.error[0].value
