"""The Review page in a real browser: accept, reject and regenerate tiles, then undo."""

from selenium.webdriver.support.ui import WebDriverWait

from dsaii_core.inpaint.generate import start_inpaint_job
from dsaii_core.jobs import run_job
from tests.fixtures.masked_ws import build_masked_ws


def test_accept_reject_and_regenerate_in_the_browser(app_server, ui, tmp_path):
    ws = build_masked_ws(tmp_path / "ws", normals=3, size=96)
    run_job(ws, start_inpaint_job(ws, ws.classes(), "classical", seed=1).id)
    first, second, third = [i.id for i in ws.catalog.items(role="anomaly", statuses=("pending",))
                            if i.origin.startswith("inpaint:")]
    status = lambda item_id: ws.catalog.item(item_id).status  # noqa: E731
    wait = WebDriverWait(ui.driver, 30)
    ui.open(app_server(ws.root) + "/review")
    ui.wait_text(f"#{third}")
    ui.click(f".st-key-accept_{first} button")
    wait.until(lambda d: status(first) == "accepted")
    ui.click(f".st-key-reject_{second} button")
    wait.until(lambda d: status(second) == "rejected")
    ui.wait_text("1 accepted of 3")
    ui.click(f".st-key-regen_{third} button")
    wait.until(lambda d: status(third) == "rejected")
    new = max(i.id for i in ws.catalog.items(role="anomaly"))
    assert status(new) == "pending" and ws.catalog.item(new).mask_id == ws.catalog.item(third).mask_id
    ui.wait_text(f"#{new}")
    ui.screenshot("review-after-decisions")
    assert {d.user for d in ws.catalog.history(limit=3)} != {""}
    ui.click(".st-key-undo button")
    wait.until(lambda d: status(third) == "pending")
