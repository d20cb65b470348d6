"""The app in a real browser: upload an image on Collect and see the class count change."""

import numpy as np

from dsaii_core import imageio


def test_upload_in_browser_changes_the_class_count(app_server, ui, tiny_ws, tmp_path):
    url = app_server(tiny_ws.root)
    ui.open(url)
    ui.wait_text("3 normal")
    image = tmp_path / "new.png"
    image.write_bytes(imageio.encode_png(np.random.default_rng(2).integers(0, 255, (32, 32, 3), dtype=np.uint8)))
    ui.wait_for("input[type='file']").send_keys(str(image))
    ui.wait_text("new.png")
    ui.click_button("Import")
    ui.wait_text("1 images added")
    ui.click_button("Refresh counts")
    ui.wait_text("4 normal")
    ui.screenshot("collect-after-upload")
    assert len(tiny_ws.catalog.items()) == 4


def test_a_deep_link_opens_the_page_inside_the_shell(app_server, ui, tiny_ws):
    ui.open(app_server(tiny_ws.root) + "/review")
    ui.wait_text("Workspace")
    nav = ui.driver.execute_script(
        "return Array.from(document.querySelectorAll('[data-testid=stSidebarNav] a')).map(a => a.innerText)")
    assert any("Object masks" in link for link in nav) and not any(link.strip() == "ui" for link in nav)
