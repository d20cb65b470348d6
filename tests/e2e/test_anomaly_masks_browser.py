"""The Anomaly masks page in a real browser: draw a defect on the canvas, save it, then erase part of it."""

from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from dsaii_core import imageio
from dsaii_core.demo import DEMO_DIR
from dsaii_core.masks.anomaly import anomaly_masks
from dsaii_core.workspace import Workspace


def upper_canvas(driver):
    """The drawing canvas of the streamlit-drawable-canvas component (it renders in a shadow root), or None."""
    found = driver.execute_script(
        "return [...document.querySelectorAll('*')].filter(e => e.shadowRoot)"
        ".map(e => e.shadowRoot.querySelector('canvas.upper-canvas')).filter(c => c);")
    return found[0] if found else None


def stroke(driver, canvas, start: tuple[int, int], steps: int, step: tuple[int, int]) -> None:
    """Drag the mouse over the canvas from `start` (offset from its centre) in `steps` moves."""
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", canvas)
    chain = ActionChains(driver).move_to_element_with_offset(canvas, *start).click_and_hold()
    for _ in range(steps):
        chain = chain.move_by_offset(*step)
    chain.release().perform()


def choose(ui, key: str, label: str) -> None:
    """Click the option `label` of the radio with key `key` (once it has rendered)."""
    xpath = f"//*[contains(@class, 'st-key-{key}')]//label[.//*[normalize-space(text())='{label}']]"
    WebDriverWait(ui.driver, 60).until(lambda d: d.find_elements(By.XPATH, xpath))[0].click()
    ui.wait_idle()


def area_shown(ui) -> str:
    return ui.wait_for("[data-testid='stMain'] [data-testid='stMetricValue']").text  # not the sidebar's counts


def draw_and_save(ui, start: tuple[int, int], steps: int, step: tuple[int, int]) -> None:
    """One stroke on the (current) canvas; save once the page shows the area it makes."""
    before = area_shown(ui)
    # The same stroke again paints the same pixels, so retrying is safe when the first one reached a canvas
    # that was still mounting (seen on a loaded machine).
    for attempt in range(3):
        stroke(ui.driver, WebDriverWait(ui.driver, 30).until(upper_canvas), start, steps, step)
        try:
            WebDriverWait(ui.driver, 20).until(lambda d: area_shown(ui) != before)
            break
        except TimeoutException:
            if attempt == 2:
                raise
    ui.wait_idle()
    ui.click(".st-key-am_save button")


def test_draw_a_mask_save_it_and_erase_part_of_it(app_server, ui, tmp_path):
    ws = Workspace.create(tmp_path / "ws")
    cls = ws.add_class("hazelnut")
    for path in sorted((DEMO_DIR / "hazelnut" / "train" / "good").glob("*.png"))[:2]:
        ws.add_image(cls, imageio.read_image(path))  # 256×256: the canvas shows it 1:1
    ui.open(app_server(ws.root) + "/anomaly_masks")
    choose(ui, "am_view", "Draw")
    wait = WebDriverWait(ui.driver, 60)

    # A horizontal stroke 20 px wide across the upper half: rows about 18–38, columns 28–148.
    draw_and_save(ui, (-100, -100), 12, (10, 0))
    wait.until(lambda d: anomaly_masks(ws, cls))
    (_, drawn), = anomaly_masks(ws, cls)
    pixels = ws.read_mask(drawn)
    assert drawn.source == "drawn" and 0.02 < drawn.area < 0.08
    assert pixels[22:34, 40:140].all() and not pixels[60:].any()

    # The saved mask is now the one being edited (on a fresh canvas): erase its right part.
    chosen = ".st-key-am_draw_mask input"
    wait.until(lambda d: ui.wait_for(chosen).get_attribute("value").startswith(f"mask {drawn.id} (drawn"))
    choose(ui, "am_tool", "Erase")
    draw_and_save(ui, (-10, -100), 6, (10, 0))
    wait.until(lambda d: anomaly_masks(ws, cls)[0][1].id != drawn.id)
    (_, edited), = anomaly_masks(ws, cls)
    after = ws.read_mask(edited)
    assert edited.replaces == drawn.id and edited.area < drawn.area
    assert after[22:34, 40:100].all() and not after[22:34, 125:145].any()
    ui.screenshot("anomaly-masks-drawn")


def canvas_button(driver, title: str):
    """A button of the canvas's own toolbar (inside its shadow root), by its accessible name."""
    return driver.execute_script(
        "for (const host of [...document.querySelectorAll('*')].filter(e => e.shadowRoot)) {"
        "  const b = [...host.shadowRoot.querySelectorAll('button')].find("
        "    b => (b.getAttribute('aria-label') || b.title || '').toLowerCase() === arguments[0].toLowerCase());"
        "  if (b) return b; } return null;", title)


def test_the_canvas_s_own_undo_reaches_the_app_so_save_stores_what_is_shown(app_server, ui, tmp_path):
    """The canvas's undo changed the picture but not the app: the area stayed and Save stored the undone shape."""
    ws = Workspace.create(tmp_path / "ws")
    cls = ws.add_class("hazelnut")
    for path in sorted((DEMO_DIR / "hazelnut" / "train" / "good").glob("*.png"))[:2]:
        ws.add_image(cls, imageio.read_image(path))
    ui.open(app_server(ws.root) + "/anomaly_masks")
    choose(ui, "am_view", "Draw")
    wait = WebDriverWait(ui.driver, 60)
    stroke(ui.driver, wait.until(upper_canvas), (-100, -100), 12, (10, 0))
    wait.until(lambda d: area_shown(ui) != "0.00 %")
    ui.wait_idle()
    one = area_shown(ui)
    stroke(ui.driver, wait.until(upper_canvas), (-100, 40), 12, (10, 0))  # a second stroke lower down
    wait.until(lambda d: area_shown(ui) != one)
    ui.wait_idle()
    two = area_shown(ui)
    wait.until(lambda d: canvas_button(d, "Undo")).click()
    ui.driver.find_element(By.CSS_SELECTOR, ".st-key-am_save button").click()  # at once, as an impatient user
    wait.until(lambda d: area_shown(ui) != two)  # the app shows the undo
    wait.until(lambda d: anomaly_masks(ws, cls))
    (_, saved), = anomaly_masks(ws, cls)
    pixels = ws.read_mask(saved)
    assert pixels[22:34, 40:140].all() and not pixels[150:].any()  # the first stroke only: what was shown
