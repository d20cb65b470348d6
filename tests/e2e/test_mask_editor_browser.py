"""The mask editor in headless Chromium: real pointer and key events at 2× zoom on a 1024² image; the saved mask must
equal the geometry redrawn here with the editor's pixel rules, exactly (no anti-aliasing anywhere)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from scipy import ndimage
from selenium.webdriver.common.action_chains import ActionChains, ScrollOrigin

from dsaii_core import imageio
from dsaii_core.demo import DEMO_DIR
from dsaii_core.masks.anomaly import anomaly_masks
from dsaii_core.workspace import Workspace
from tests.e2e.editor_driver import Editor, fill_polygon, snap, stroke

SIDE = 1024


@pytest.fixture
def workspace(tmp_path) -> Workspace:
    ws = Workspace.create(tmp_path / "ws")
    cls = ws.add_class("hazelnut")
    path = sorted((DEMO_DIR / "hazelnut" / "train" / "good").glob("*.png"))[0]
    ws.add_image(cls, cv2.resize(imageio.read_image(path), (SIDE, SIDE), interpolation=cv2.INTER_CUBIC))
    return ws


def open_editor(ui, app_server, ws: Workspace) -> Editor:
    ui.driver.set_window_size(1280, 1000)
    ui.open(app_server(ws.root) + "/anomaly_masks")
    ui.choose("am_view", "Draw")
    editor = Editor(ui.driver)
    editor.wait_ready()
    ui.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", editor.canvas())
    return editor


def saved_masks(ws: Workspace) -> list:
    return [m for _, m in anomaly_masks(ws, ws.get_class("hazelnut"))]


def test_drawing_at_2x_zoom_saves_exactly_what_was_drawn(app_server, ui, workspace):
    ws = workspace
    editor = open_editor(ui, app_server, ws)
    state = editor.state()
    assert (state["width"], state["height"], state["tool"]) == ("1024", "1024", "brush")
    fitted = float(state["zoom"])
    assert fitted < 1  # the whole 1024 px image fits the view at first

    # Zoom: the wheel zooms in, 1:1 and two steps of + make 2×.
    ActionChains(ui.driver).scroll_from_origin(ScrollOrigin.from_element(editor.canvas()), 0, -200).perform()
    editor.wait(lambda s: float(s["zoom"]) > fitted * 1.2)
    editor.press("actual")
    editor.press("zoom-in")
    editor.press("zoom-in")
    assert editor.wait(lambda s: s["zoom"] == "2")["zoom"] == "2"
    left, top, pan_x, pan_y, _ = editor.view()
    visible = (-pan_x / 2, -pan_y / 2)  # the image point at the view's top left corner
    at = lambda x, y: editor.client(visible[0] + x, visible[1] + y)  # noqa: E731 - image px from that corner

    expected = np.zeros((SIDE, SIDE), np.uint8)

    def drag(points, tool_value=None, size=None):
        clients = [at(*p) for p in points]
        editor.drag(clients)
        if tool_value is not None:
            stroke(expected, [editor.image_point(c) for c in clients], size, tool_value)
        return clients

    # Brush, size keys: ] grows, [ shrinks.
    editor.keys("b")
    editor.keys("]")
    assert editor.wait(lambda s: s["size"] == "24")
    editor.keys("[")
    size = int(editor.wait(lambda s: s["size"] == "20")["size"])
    drag([(40, 40), (140, 40), (180, 90), (180, 150)], 1, size)
    ones = editor.wait(lambda s: int(s["ones"]) > 0)["ones"]
    assert int(ones) == int(expected.sum())  # the live count is the drawn geometry already

    # Eraser, smaller, across the brush stroke.
    editor.keys("e")
    for _ in range(4):
        editor.keys("[")
    size = int(editor.wait(lambda s: s["tool"] == "eraser" and s["size"] != "20")["size"])
    drag([(90, 20), (95, 70)], 0, size)

    # Polygon: four corners, closed on the first one; then one corner moved (still editable).
    editor.keys("p")
    corners = [at(*p) for p in [(20, 170), (120, 160), (130, 250), (30, 260)]]
    for corner in corners:
        editor.click(corner)
    editor.click(corners[0])
    editor.wait(lambda s: s["pending"] == "polygon")
    moved = at(60, 300)
    editor.drag([corners[2], at(90, 270), moved])
    polygon = [snap(editor.image_point(c)) for c in [corners[0], corners[1], moved, corners[3]]]

    # Rectangle (its tool commits the polygon), drawn to subtract, one corner moved afterwards.
    editor.keys("r")
    editor.wait(lambda s: s["pending"] == "" and s["tool"] == "rectangle")
    fill_polygon(expected, polygon, 1)
    editor.driver.execute_script(
        "arguments[0].querySelector('[data-option=subtract]').click();", editor.root())
    start, end = at(50, 200), at(100, 240)
    editor.drag([start, at(70, 220), end])
    editor.wait(lambda s: s["pending"] == "rect")
    new_end = at(110, 230)
    editor.drag([end, new_end])
    (x0, y0), (x1, y1) = snap(editor.image_point(start)), snap(editor.image_point(new_end))
    rectangle = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]

    # Lasso (its tool commits the rectangle), adding again.
    editor.keys("l")
    editor.wait(lambda s: s["pending"] == "" and s["tool"] == "lasso")
    fill_polygon(expected, rectangle, 0)
    assert int(editor.state()["ones"]) == int(expected.sum())
    editor.driver.execute_script(
        "arguments[0].querySelector('[data-option=subtract]').click();", editor.root())
    path = drag([(220, 40), (300, 50), (330, 120), (280, 190), (230, 150)])
    editor.wait(lambda s: s["pending"] == "polygon")
    lasso = [snap(editor.image_point(c)) for c in path]

    # Undo / redo of a brush stroke, local and instant; Esc drops a polygon being drawn.
    editor.keys("b")
    fill_polygon(expected, lasso, 1)
    before = int(editor.wait(lambda s: s["pending"] == "" and s["tool"] == "brush")["ones"])
    assert before == int(expected.sum())
    drag([(250, 250), (330, 250)])
    after = int(editor.wait(lambda s: int(s["ones"]) > before)["ones"])
    editor.keys("z", ctrl=True)
    editor.wait(lambda s: int(s["ones"]) == before and s["redo"] == "1")
    editor.keys("z", ctrl=True, shift=True)
    editor.wait(lambda s: int(s["ones"]) == after and s["redo"] == "0")
    editor.keys("z", ctrl=True)
    editor.wait(lambda s: int(s["ones"]) == before)
    editor.keys("p")
    editor.click(at(300, 300))
    editor.click(at(340, 300))
    editor.wait(lambda s: s["drawing"] == "polygon")
    editor.keys("\ue00c")  # Esc
    editor.wait(lambda s: s["drawing"] == "" and s["pending"] == "")
    assert saved_masks(ws) == []  # nothing reached the app yet

    # Enter saves once, losslessly: the saved mask is what was drawn, pixel for pixel.
    editor.keys("\ue007")
    ui.wait_until(lambda: saved_masks(ws))
    (saved,) = saved_masks(ws)
    pixels = ws.read_mask(saved) > 0
    assert pixels.shape == (SIDE, SIDE)
    assert np.array_equal(pixels, expected > 0), f"{np.count_nonzero(pixels != (expected > 0))} pixels differ"
    assert saved.source == "drawn"
    state = editor.wait(lambda s: s["dirty"] == "false" and s["state"] == "ready")
    assert state["undo"] != "0"  # the editor's history survives its own save
    ui.screenshot("mask-editor-drawn")


COUNT_SENT = ("window.__sent = 0; const send = WebSocket.prototype.send;"
              "WebSocket.prototype.send = function (message) { window.__sent++; return send.call(this, message); };")


def test_whole_mask_edits_and_the_page_s_undo(app_server, ui, workspace):
    ws = workspace
    counter = ui.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": COUNT_SENT})
    try:
        editor = open_editor(ui, app_server, ws)
    finally:
        ui.driver.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", counter)
    total = SIDE * SIDE
    # The editor's keys stay in the editor: R (Streamlit's rerun key) picks the rectangle, and nothing reaches
    # the server.
    ui.wait_settled()
    sent = ui.driver.execute_script("return window.__sent;")
    editor.keys("r")
    editor.wait(lambda s: s["tool"] == "rectangle")
    editor.keys("b")
    ui.wait_settled()
    assert ui.driver.execute_script("return window.__sent;") == sent
    # Whole image, invert, clear: each one local step.
    editor.press("whole")
    editor.wait(lambda s: int(s["ones"]) == total)
    editor.press("invert")
    editor.wait(lambda s: int(s["ones"]) == 0)
    editor.press("whole")
    editor.press("clear")
    editor.wait(lambda s: int(s["ones"]) == 0 and s["undo"] == "4")
    editor.keys("z", ctrl=True)
    editor.wait(lambda s: int(s["ones"]) == total)

    # A square outline with a hole, then Fill holes: the same as scipy's binary_fill_holes.
    editor.press("clear")
    editor.keys("b")
    corners = [(300, 300), (600, 320), (620, 650), (310, 640), (300, 300)]
    clients = [editor.client(*p) for p in corners]
    editor.drag(clients)
    size = int(editor.state()["size"])
    outline = np.zeros((SIDE, SIDE), np.uint8)
    stroke(outline, [editor.image_point(c) for c in clients], size, 1)
    editor.wait(lambda s: int(s["ones"]) == int(outline.sum()))
    editor.press("fill")
    filled = ndimage.binary_fill_holes(outline > 0)
    editor.wait(lambda s: int(s["ones"]) == int(filled.sum()))
    editor.press("save")
    ui.wait_until(lambda: saved_masks(ws))
    (first,) = saved_masks(ws)
    assert np.array_equal(ws.read_mask(first) > 0, filled)
    editor.wait(lambda s: s["dirty"] == "false")

    # A second save replaces it; the page's Undo brings the first back into the editor.
    editor.press("invert")
    editor.keys("\ue007")
    ui.wait_until(lambda: saved_masks(ws) and saved_masks(ws)[0].id != first.id)
    assert np.array_equal(ws.read_mask(saved_masks(ws)[0]) > 0, ~filled)
    editor.wait(lambda s: s["dirty"] == "false" and s["revision"] != f"mask {first.id}")
    ui.wait_settled()
    undo = ui.wait_for(".st-key-am_draw_undo button")
    ui.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", undo)
    ui.click(".st-key-am_draw_undo button")
    ui.wait_until(lambda: [m.id for m in saved_masks(ws)] == [first.id])
    state = editor.wait(lambda s: s["revision"] == f"mask {first.id}")
    assert int(state["ones"]) == int(filled.sum()) and state["undo"] == "0" and state["dirty"] == "false"


def test_a_4096_px_image_at_8x_with_panning(app_server, ui, tmp_path):
    ws = Workspace.create(tmp_path / "ws")
    cls = ws.add_class("hazelnut")
    path = sorted((DEMO_DIR / "hazelnut" / "train" / "good").glob("*.png"))[1]
    side = 4096
    ws.add_image(cls, cv2.resize(imageio.read_image(path), (side, side), interpolation=cv2.INTER_LINEAR))
    editor = open_editor(ui, app_server, ws)
    assert editor.state()["width"] == str(side)
    editor.press("actual")
    for _ in range(6):  # 1 → 1.5 → 2 → 3 → 4 → 6 → 8
        editor.press("zoom-in")
    state = editor.wait(lambda s: s["zoom"] == "8")
    pan = int(state["panX"]), int(state["panY"])
    rect = ui.driver.execute_script("return arguments[0].getBoundingClientRect().toJSON();", editor.canvas())
    middle_of_view = (round(rect["left"] + rect["width"] / 2), round(rect["top"] + rect["height"] / 2))
    cx, cy = editor.image_point(middle_of_view)  # image pixels around it stay in view (±40 at 8×)

    # Pan with the middle button, then with the space bar held: the view moves by the drag, nothing is drawn.
    middle = [middle_of_view, (middle_of_view[0] - 30, middle_of_view[1] - 10),
              (middle_of_view[0] - 60, middle_of_view[1] - 20)]
    editor.drag(middle, button=1)
    state = editor.wait(lambda s: int(s["panX"]) != pan[0])
    assert (int(state["panX"]), int(state["panY"])) == (pan[0] - 60, pan[1] - 20)
    editor.keys(" ")  # a tap of the space bar alone changes nothing
    ActionChains(ui.driver).key_down(" ").perform()
    editor.drag([middle_of_view, (middle_of_view[0] + 60, middle_of_view[1] + 20)])
    ActionChains(ui.driver).key_up(" ").perform()
    state = editor.wait(lambda s: int(s["panX"]) == pan[0])
    assert int(state["panY"]) == pan[1] and state["ones"] == "0" and state["undo"] == "0"

    # A brush stroke at 8×, saved: exact at full resolution.
    expected = np.zeros((side, side), np.uint8)
    clients = [editor.client(cx - 30, cy - 20), editor.client(cx, cy - 18), editor.client(cx + 10, cy + 10)]
    editor.drag(clients)
    stroke(expected, [editor.image_point(c) for c in clients], int(state["size"]), 1)
    editor.wait(lambda s: int(s["ones"]) == int(expected.sum()))
    editor.keys("\ue007")
    ui.wait_until(lambda: saved_masks(ws), 120)
    assert np.array_equal(ws.read_mask(saved_masks(ws)[0]) > 0, expected > 0)
