"""The Curate page in a real browser: keep and drop candidates, then undo."""

from selenium.webdriver.support.ui import WebDriverWait

from dsaii_core.collect import curate
from dsaii_core.workspace import Workspace
from tests.collect.candidates import add_candidates


def test_keep_drop_and_undo_in_the_browser(app_server, ui, tmp_path):
    ws = Workspace.create(tmp_path / "ws")
    add_candidates(ws, "parts", 12, side=96)
    cls = ws.get_class("parts")
    first, second = [v.id for v in curate.candidate_page(ws, cls, per_page=12).items[:2]]
    status = lambda item_id: ws.catalog.item(item_id).status  # noqa: E731
    url = app_server(ws.root)
    ui.open(url + "/curate")
    ui.wait_text("12 images")
    ui.click(f".st-key-keep_{first} button")
    ui.wait_text("11 images")
    WebDriverWait(ui.driver, 30).until(lambda d: status(first) == "kept")
    ui.click(f".st-key-drop_{second} button")
    ui.wait_text("10 images")
    assert status(second) == "dropped"
    ui.screenshot("curate-after-decisions")
    ui.click(".st-key-curate_undo button")
    ui.wait_text("11 images")
    assert status(second) == "candidate" and status(first) == "kept"
