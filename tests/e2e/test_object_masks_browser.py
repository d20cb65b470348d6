"""The Object masks page in a real browser: paint a stroke on the canvas, then remove it with a background click."""

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from dsaii_core import imageio
from dsaii_core.demo import DEMO_DIR
from dsaii_core.masks import objects
from dsaii_core.workspace import Workspace


def test_paint_a_stroke_then_click_it_away(app_server, ui, tmp_path):
    ws = Workspace.create(tmp_path / "ws")
    cls = ws.add_class("hazelnut")
    for path in sorted((DEMO_DIR / "hazelnut" / "train" / "good").glob("*.png"))[:2]:
        ws.add_image(cls, imageio.read_image(path))
    objects.generate_for_class(ws, cls)
    item = objects.review_rows(ws, cls)[0].item
    before = ws.object_mask(item)
    ui.open(app_server(ws.root) + "/object_masks")
    ui.click(f".st-key-om_open_{item.id} button")
    ui.wait_idle()
    paint = ui.wait_for(".st-key-om_tool")
    paint.find_element(By.XPATH, ".//label[.//*[normalize-space(text())='Paint']]").click()
    ui.wait_idle()
    canvas = WebDriverWait(ui.driver, 30).until(lambda d: upper_canvas(d))
    ui.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", canvas)
    # A stroke along the top-left background, outside the nut.
    chain = ActionChains(ui.driver).move_to_element_with_offset(canvas, -110, -110).click_and_hold()
    for _ in range(10):
        chain = chain.move_by_offset(6, 0)
    chain.release().perform()
    wait = WebDriverWait(ui.driver, 60)
    wait.until(lambda d: ws.object_mask(item).id != before.id)
    after = ws.object_mask(item)
    assert after.source == "user-paint" and after.area > before.area
    painted = ws.read_mask(after)
    assert painted[10:30, 20:70].any() and not ws.read_mask(before)[10:30, 20:70].any()
    ui.screenshot("object-masks-painted")

    # A background click on the stroke: GrabCut (no SAM here) refines the mask without it.
    ui.wait_for(".st-key-om_tool").find_element(By.XPATH, ".//label[.//*[normalize-space(text())='Click']]").click()
    ui.wait_idle()
    ui.wait_for(".st-key-om_click_kind").find_element(
        By.XPATH, ".//label[.//*[normalize-space(text())='background point']]").click()
    ui.wait_settled()  # the canvas must be redrawn with the background colour: a point keeps the colour it got
    canvas = WebDriverWait(ui.driver, 30).until(lambda d: upper_canvas(d))
    ui.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", canvas)
    ActionChains(ui.driver).move_to_element_with_offset(canvas, -80, -108).click().perform()
    wait.until(lambda d: ws.object_mask(item).id != after.id)
    clicked = ws.object_mask(item)
    assert clicked.source == "grabcut-refine"
    assert not ws.read_mask(clicked)[10:30, 20:70].any() and ws.read_mask(clicked)[128, 128] == 255
    ui.screenshot("object-masks-clicked")


def upper_canvas(driver):
    """The drawing canvas of the streamlit-drawable-canvas component (it renders in a shadow root), or None."""
    found = driver.execute_script(
        "return [...document.querySelectorAll('*')].filter(e => e.shadowRoot)"
        ".map(e => e.shadowRoot.querySelector('canvas.upper-canvas')).filter(c => c);")
    return found[0] if found else None
