"""Served to a lab, in headless Chromium against a local OpenID Connect provider (oidc-provider-mock).

Signed out, a visitor sees only the sign-in button (on any page's address); a member signs in at the provider,
keeps an image on Curate and the catalog records it under their address; no page, for a member or an admin,
carries the web UI password or the app's own secrets in its HTML; sign-out ends the session.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from selenium.webdriver.common.by import By

from dsaii_core.inpaint.webui_backend import DEFAULT_URL, save_auth
from dsaii_core.workspace import Workspace
from tests.collect.candidates import add_candidates

oidc = pytest.importorskip("oidc_provider_mock")

ADMIN, MEMBER = "ada@lab.org", "bob@lab.org"
WEBUI_SECRET = "sd:Webui-Pa55-4c1d"
CLIENT_SECRET = "client-secret-9e2b7"
COOKIE_SECRET = "cookie-secret-51fa0"
# Collect, the default page, is linked as the app's root.
PAGES = [("", "Collect"), ("curate", "Curate"), ("object_masks", "Object masks"), ("anomaly_masks", "Anomaly masks"),
         ("inpaint", "Inpaint"), ("review", "Review"), ("export", "Export"), ("benchmark", "Benchmark")]


@pytest.fixture
def provider():
    users = [oidc.User(sub=email.split("@")[0], claims={"email": email, "name": email.split("@")[0].title()})
             for email in (ADMIN, MEMBER)]
    with oidc.run_server_in_thread(user_claims=users) as server:
        yield f"http://localhost:{server.server_port}"


def secrets_file(folder: Path, provider: str) -> Path:
    """Streamlit's [auth] for the provider; the app's port is filled in by Streamlit ({port})."""
    path = folder / "secrets.toml"
    path.write_text(f'''[auth]
redirect_uri = "http://127.0.0.1:{{port}}/oauth2callback"
cookie_secret = "{COOKIE_SECRET}"
client_id = "dsaii-studio"
client_secret = "{CLIENT_SECRET}"
server_metadata_url = "{provider}/.well-known/openid-configuration"
''')
    return path


def sign_in(ui, user: str, email: str) -> None:
    ui.click(".st-key-sign_in button")
    ui.click(f"button[name='sub'][value='{user}']")  # the provider's page: pick a predefined user
    ui.wait_text(f"Signed in as {email}")
    ui.wait_idle()


def sign_out(ui) -> None:
    ui.click(".st-key-sign_out button")
    ui.click("form[action$='/end_session/confirm'] button")  # the provider's end-session page
    ui.wait_for(".st-key-sign_in button")


def pages_hold_no_secret(ui, who: str, inpaint_says: str) -> None:
    """Visit every page (the web UI backend chosen on Inpaint, where `inpaint_says` is shown) and search its HTML
    for each secret."""
    for page, title in PAGES:
        ui.go(page, title)
        if page == "inpaint":
            ui.choose("backend", "Stable Diffusion web UI (HTTP API)")
            ui.wait_text(inpaint_says)
            said = ui.driver.find_element(By.XPATH, f"//*[@data-testid='stCaptionContainer'][contains(., '{inpaint_says[:12]}')]")
            ui.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", said)
            ui.screenshot(f"signin-inpaint-{who}")
        html = ui.driver.page_source
        for secret in (WEBUI_SECRET, CLIENT_SECRET, COOKIE_SECRET):
            assert secret not in html, f"{secret} on {page}"


def test_sign_in_decide_as_yourself_no_secret_in_any_page_and_sign_out(app_server, ui, provider, tmp_path):
    ws = Workspace.create(tmp_path / "data" / "ws")
    [first, *_] = add_candidates(ws, "parts", 3)
    save_auth(ws, DEFAULT_URL, WEBUI_SECRET)
    url = app_server(ws.root, STREAMLIT_SECRETS_FILES=str(secrets_file(tmp_path, provider)), DSAII_ADMINS=ADMIN,
                     DSAII_DATA_ROOT=str(tmp_path / "data"), STREAMLIT_CLIENT_SHOW_ERROR_DETAILS="none")
    ui.driver.delete_all_cookies()
    try:
        # Signed out: the sign-in button and nothing else, whichever page the address names.
        for address in (url, f"{url}/curate"):
            ui.open(address)
            ui.wait_for(".st-key-sign_in button")
            assert not ui.driver.find_elements(By.CSS_SELECTOR, "[data-testid='stSidebarNav']")
            assert "Curate" not in ui.text() and "Workspace" not in ui.text()

        # A member signs in and keeps an image: the catalog names them.
        sign_in(ui, "bob", MEMBER)
        assert "member" in ui.text() and "Your name" not in ui.text()
        ui.go("curate", "Curate")
        ui.click(f".st-key-keep_{first} button")
        ui.wait_until(lambda: ws.catalog.actions() and ws.catalog.actions()[0].user == MEMBER)
        assert ws.catalog.item(first).status == "kept"
        pages_hold_no_secret(ui, "member",
                             "Web UI: http://127.0.0.1:7860 · password stored (set by an admin of this server)")
        sign_out(ui)
        assert "Signed in" not in ui.text()

        # The admin sees the web UI's settings: the password is write-only, in no page's HTML either.
        sign_in(ui, "ada", ADMIN)
        pages_hold_no_secret(ui, "admin", "Password for http://127.0.0.1:7860: stored (sent to this address only)")
        sign_out(ui)
        ui.open(f"{url}/inpaint")  # a new session after sign-out is signed out too
        ui.wait_for(".st-key-sign_in button")
        assert "Inpaint" not in ui.text()
    finally:
        ui.driver.delete_all_cookies()
