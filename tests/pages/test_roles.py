"""AppTest of the app served with sign-in: signed out sees only sign-in, members cannot see or change the admins'
settings nor leave the data root, and every decision is recorded under the signed-in address."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dsaii_core.credentials import FILE_NAME
from dsaii_core.inpaint.webui_backend import DEFAULT_URL, auth_for
from dsaii_core.workspace import Workspace
from tests.collect.candidates import add_candidates
from tests.fixtures.jobs_here import jobs_in_process  # noqa: F401 (a fixture: the export job runs in process)
from tests.fixtures.masked_ws import build_masked_ws

REPO = Path(__file__).resolve().parents[2]
AUTH = {"auth": {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "test-cookie-secret",
                 "client_id": "dsaii", "client_secret": "s",
                 "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration"}}
ADMIN, MEMBER = "ada@lab.org", "bob@lab.org"
SECRET = "lab:s3cret-Pa55"


@pytest.fixture
def ws(tmp_path, monkeypatch) -> Workspace:
    """A workspace under the data root tmp_path/data, with Ada as the one admin."""
    monkeypatch.setenv("DSAII_DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.setenv("DSAII_ADMINS", ADMIN)
    ws = build_masked_ws(tmp_path / "data" / "ws", normals=2, size=64)
    add_candidates(ws, "parts", 3)
    return ws


def app(ws: Workspace, email: str | None, page: str | None = None, script: str = "app.py") -> AppTest:
    """The app served with sign-in, as `email` (None: signed out), switched to `page` when given."""
    at = AppTest.from_file(str(REPO / script), default_timeout=60)
    at.secrets = AUTH
    at.user = {"is_logged_in": True, "email": email} if email else {"is_logged_in": False}
    at.session_state["workspace_path"] = str(ws.root)
    at.session_state["class_name"] = "hazelnut"
    at.run()
    if page:
        at.switch_page(page).run()
    return at


def keys(at: AppTest) -> set[str]:
    return {w.key for kind in ("text_input", "checkbox", "button", "radio") for w in at.get(kind) if w.key}


def captions(at: AppTest) -> str:
    return " ".join(c.value for c in at.caption)


def test_signed_out_sees_only_the_sign_in_button(ws):
    at = app(ws, None)
    assert not at.exception
    assert [t.value for t in at.title] == ["DSAII Studio"]
    assert [b.label for b in at.button] == ["Sign in"]
    assert not at.text_input and not at.sidebar.selectbox
    named = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    named.secrets = {"auth": {**AUTH["auth"], "lab": {"client_id": "l"}, "google": {"client_id": "g"}}}
    named.user = {"is_logged_in": False}
    assert [b.label for b in named.run().button] == ["Sign in with lab", "Sign in with google"]
    page = app(ws, None, script="app_pages/curate.py")  # a page reached without the shell stops as well
    assert [b.label for b in page.button] == ["Sign in"] and "Curate" not in [t.value for t in page.title]


def test_a_member_sees_the_admin_settings_but_cannot_change_them(ws):
    ws.catalog.set_setting("diffusers.model", "/models/sd-inpaint")
    at = app(ws, MEMBER)
    assert not at.exception
    assert f"Signed in as **{MEMBER}** · member" in captions(at)
    assert not {"reviewer_field", "executor_kind", "ray_address", "save_executor"} & keys(at)
    assert "Jobs run on this machine (set by an admin of this server)" in captions(at)
    at.switch_page("app_pages/inpaint.py").run()
    at.radio(key="backend").set_value("webui").run()
    assert not {"webui_url", "webui_auth_new", "webui_auth_set", "webui_auth_remove"} & keys(at)
    assert f"Web UI: {DEFAULT_URL}" in captions(at)
    at.radio(key="backend").set_value("diffusers").run()
    assert "model" not in keys(at) and "config" not in keys(at)
    assert "Model: /models/sd-inpaint (set by an admin of this server)" in captions(at)
    at.switch_page("app_pages/object_masks.py").run()
    assert not at.exception
    assert "om_sam_path" not in keys(at) and "SAM checkpoint: none" in captions(at)


def test_an_admin_sets_replaces_and_removes_the_web_ui_password_without_ever_seeing_it(ws):
    at = app(ws, ADMIN)
    assert f"Signed in as **{ADMIN}** · admin" in captions(at)
    assert {"executor_kind", "ray_address"} <= keys(at)
    at.switch_page("app_pages/inpaint.py").run()
    at.radio(key="backend").set_value("webui").run()
    at.text_input(key="webui_auth_new").set_value(SECRET)
    at.button(key="webui_auth_set").click().run()
    assert auth_for(ws, DEFAULT_URL) == SECRET
    assert at.text_input(key="webui_auth_new").value == ""  # the field is emptied, never filled again
    assert at.button(key="webui_auth_set").label == "Replace"
    assert "stored (sent to this address only)" in captions(at)
    assert SECRET not in str([w.value for w in at.text_input])
    at.text_input(key="webui_url").set_value("http://10.0.0.5:7860").run()  # another origin: no password
    assert "Password for http://10.0.0.5:7860: none" in captions(at)
    at.text_input(key="webui_auth_new").set_value("lab:other")
    at.button(key="webui_auth_set").click().run()
    assert "plain http on the network" in at.error[0].value
    assert auth_for(ws, "http://10.0.0.5:7860") is None
    at.checkbox(key="webui_plain_http http://10.0.0.5:7860").check()
    at.text_input(key="webui_auth_new").set_value("lab:other")
    at.button(key="webui_auth_set").click().run()
    assert auth_for(ws, "http://10.0.0.5:7860") == "lab:other" and auth_for(ws, DEFAULT_URL) == SECRET
    at.button(key="webui_auth_remove").click().run()
    assert auth_for(ws, "http://10.0.0.5:7860") is None
    assert SECRET not in (ws.root / "dsaii.sqlite").read_bytes().decode("latin-1")
    assert (ws.root / FILE_NAME).stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("folder", ["/", "other-root"])
def test_a_member_cannot_open_a_workspace_outside_the_data_root(ws, tmp_path, folder):
    (tmp_path / "other-root").mkdir()
    at = app(ws, MEMBER)
    at.sidebar.text_input[0].set_value(folder if folder == "/" else str(tmp_path / folder)).run()
    assert not at.exception
    assert "outside the data root" in at.sidebar.error[0].value
    assert not (tmp_path / "other-root" / "dsaii.sqlite").exists()


def test_folders_typed_on_the_pages_must_lie_under_the_data_root(ws, tmp_path, jobs_in_process):
    at = app(ws, MEMBER, "app_pages/export.py")
    at.text_input(key="export_out").set_value(str(tmp_path / "elsewhere"))
    at.button(key="export").click().run()
    assert "outside the data root" in at.error[0].value and not (tmp_path / "elsewhere").exists()
    at.text_input(key="export_out").set_value(str(tmp_path / "data" / "out"))
    at.button(key="export").click().run()
    assert (tmp_path / "data/out/manifest.json").is_file()  # under the data root: written
    at = app(ws, MEMBER, "app_pages/collect.py")
    at.text_input(key="folder_path").set_value("/etc").run()
    at.button(key="import_folder").click().run()
    assert "outside the data root" in at.error[0].value
    at = app(ws, MEMBER, "app_pages/anomaly_masks.py")
    at.radio(key="am_view").set_value("Mask bank").run()
    at.text_input(key="am_bank_folder").set_value(str(tmp_path))
    at.button(key="am_bank_add").click().run()
    assert "outside the data root" in at.error[0].value


def test_decisions_are_recorded_under_the_signed_in_address(ws):
    at = app(ws, MEMBER)
    at.session_state["class_name"] = "parts"
    at.switch_page("app_pages/curate.py").run()
    candidate = ws.catalog.items(class_id=ws.get_class("parts").id)[0]
    at.button(key=f"keep_{candidate.id}").click().run()
    assert not at.exception
    assert ws.catalog.actions()[0].user == MEMBER


def test_local_mode_keeps_the_free_text_name_and_every_setting(ws):
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    at.session_state["workspace_path"] = str(ws.root)
    at.run()
    assert not at.exception
    assert {"reviewer_field", "executor_kind", "ray_address"} <= keys(at)
    assert "Signed in" not in captions(at)


def test_only_an_admin_sets_what_the_crawler_may_reach(ws):
    """'Allow private' and the engine base URL decide which addresses the server fetches: admins only."""
    member = app(ws, MEMBER, "app_pages/collect.py")
    assert not member.exception and not {"crawl_allow_private", "crawl_base_url"} & keys(member)
    admin = app(ws, ADMIN, "app_pages/collect.py")
    assert {"crawl_allow_private", "crawl_base_url"} <= keys(admin)
