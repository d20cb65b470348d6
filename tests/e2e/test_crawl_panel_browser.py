"""The crawl panel of the Collect page in a real browser, against the fake API and image host."""

from selenium.webdriver.common.by import By

from dsaii_core import imageio
from dsaii_core.workspace import Workspace
from tests.fixtures.fake_web import FakeWeb


def test_crawl_panel_adds_candidates_and_lists_rejected_urls(app_server, ui, tmp_path):
    web = FakeWeb().start()
    try:
        web.use_results(["/img/coffee.png", "/img/rocket.png", "/html-as.png", "/redirect/link-local"])
        ws = Workspace.create(tmp_path / "ws")
        reference = tmp_path / "ref.png"
        imageio.write_png(reference, web.images["coffee"])
        ui.open(app_server(ws.root))
        ui.wait_text("Find similar images")
        ui.wait_for(".st-key-crawl_class input").send_keys("cups\n")
        ui.wait_idle()  # the rerun Enter starts redraws the uploader: a file sent meanwhile is lost
        ui.driver.find_elements(By.CSS_SELECTOR, "input[type='file']")[-1].send_keys(str(reference))
        ui.wait_text("ref.png")
        ui.driver.find_element(By.XPATH, "//summary[.//*[text()='Network']] | //details//*[text()='Network']").click()
        ui.click(".st-key-crawl_allow_private label")
        ui.wait_for(".st-key-crawl_base_url input").send_keys(web.url("") + "\n")
        ui.wait_idle()
        ui.click(".st-key-crawl_start button")
        ui.wait_text("2 added as candidates", timeout=90)
        ui.wait_text("2 URLs not added")  # reasons are listed in a data grid (canvas)
        ui.screenshot("crawl-panel-after-crawl")
        cls = ws.get_class("cups")
        assert len(ws.catalog.items(cls.id)) == 2
    finally:
        web.stop()
