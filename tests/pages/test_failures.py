"""Failures users can read: a failing catalog or a full disk is one line on the page, never a traceback; a
workspace on a network file system is warned about."""

import errno
import sqlite3
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import app_pages._ui as ui
from dsaii_core import export_job

REPO = Path(__file__).resolve().parents[2]


def app(ws_root, page: str | None = None) -> AppTest:
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    at.session_state["workspace_path"] = str(ws_root)
    at.run()
    if page:
        at.switch_page(page).run()
    return at


@pytest.mark.parametrize("error, says", [
    (sqlite3.OperationalError("database is locked"), "The workspace catalog is busy"),
    (sqlite3.OperationalError("disk I/O error"), "The workspace catalog cannot be read or written (disk I/O error)"),
    (sqlite3.OperationalError("database or disk is full"), "The disk holding the workspace is full"),
    (OSError(errno.ENOSPC, "No space left on device", "/data/ws/x.png"), "The disk is full (/data/ws/x.png could"),
])
def test_catalog_and_disk_failures_are_one_line(error, says):
    message = ui.failure_message(error)
    assert message.startswith(says) and "\n" not in message


def test_other_errors_are_not_dressed_up():
    assert ui.failure_message(OSError(errno.EACCES, "Permission denied")) is None
    assert ui.failure_message(ValueError("bug")) is None


def test_a_locked_catalog_shows_a_line_not_a_traceback(tiny_ws, monkeypatch):
    def locked(*args, **kwargs):
        raise sqlite3.OperationalError("database is locked")
    monkeypatch.setattr(ui, "class_stats", locked)
    at = app(tiny_ws.root)
    assert not at.exception
    assert [e.value for e in at.error] == ["The workspace catalog is busy (another program is writing it): "
                                          "try again in a moment."]


def test_a_full_disk_when_an_export_starts_shows_a_line(demo_ws, tmp_path, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "out"))
    monkeypatch.setattr(export_job, "start_export_job", full)
    at = app(demo_ws.root, "app_pages/export.py")
    at.text_input(key="export_out").set_value(str(tmp_path / "out"))
    at.button(key="export").click().run()
    assert not at.exception
    assert at.error[0].value.startswith("The disk is full")


def test_a_workspace_on_a_network_file_system_is_warned_about(tiny_ws, monkeypatch):
    monkeypatch.setattr(ui, "network_filesystem", lambda path: "nfs4")
    at = app(tiny_ws.root)
    assert not at.exception
    assert "network file system (nfs4)" in at.sidebar.warning[0].value
