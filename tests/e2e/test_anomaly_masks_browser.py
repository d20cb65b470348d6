"""The Anomaly masks page in a real browser: draw a defect in the mask editor, save it, then erase part of it and save
a new version of that mask; the live area is checked against the class's range. (The editor's tools, zoom and
undo in detail: test_mask_editor_browser.py.)"""

import numpy as np

from dsaii_core import imageio
from dsaii_core.demo import DEMO_DIR
from dsaii_core.masks.anomaly import anomaly_masks
from dsaii_core.workspace import Workspace
from tests.e2e.editor_driver import Editor, stroke


def area_text(editor: Editor) -> str:
    return editor.driver.execute_script("return arguments[0].querySelector('.me-area').textContent;", editor.root())


def test_draw_a_mask_save_it_and_erase_part_of_it(app_server, ui, tmp_path):
    ws = Workspace.create(tmp_path / "ws")
    cls = ws.add_class("hazelnut")
    for path in sorted((DEMO_DIR / "hazelnut" / "train" / "good").glob("*.png"))[:2]:
        ws.add_image(cls, imageio.read_image(path))  # 256×256
    ui.driver.set_window_size(1280, 1000)
    ui.open(app_server(ws.root) + "/anomaly_masks")
    ui.choose("am_view", "Draw")
    editor = Editor(ui.driver)
    state = editor.wait_ready()
    assert area_text(editor) == "Defect area: 0.00 % of the image · allowed 1–5 %"
    ui.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", editor.canvas())

    # A horizontal stroke across the upper half, saved with the Save button.
    expected = np.zeros((256, 256), np.uint8)
    clients = [editor.client(30, 28), editor.client(150, 28)]
    editor.drag(clients)
    stroke(expected, [editor.image_point(c) for c in clients], int(state["size"]), 1)
    editor.wait(lambda s: int(s["ones"]) == int(expected.sum()))
    percent = 100 * expected.mean()
    assert area_text(editor) == f"Defect area: {percent:.2f} % of the image · allowed 1–5 % · not saved"
    editor.press("save")
    ui.wait_until(lambda: anomaly_masks(ws, cls))
    (_, drawn), = anomaly_masks(ws, cls)
    assert drawn.source == "drawn" and np.array_equal(ws.read_mask(drawn) > 0, expected > 0)

    # The saved mask is now the one being edited: erase its right part and save a new version of it.
    ui.wait_until(lambda: ui.wait_for(".st-key-am_draw_mask input").get_attribute("value").startswith(
        f"mask {drawn.id} (drawn"))
    editor.wait(lambda s: s["revision"] == f"mask {drawn.id}" and s["dirty"] == "false")
    editor.keys("e")
    clients = [editor.client(110, 28), editor.client(160, 28)]
    editor.drag(clients)
    stroke(expected, [editor.image_point(c) for c in clients], int(state["size"]), 0)
    editor.wait(lambda s: int(s["ones"]) == int(expected.sum()))
    editor.keys("\ue007")
    ui.wait_until(lambda: anomaly_masks(ws, cls)[0][1].id != drawn.id)
    (_, edited), = anomaly_masks(ws, cls)
    assert edited.replaces == drawn.id and edited.area < drawn.area
    assert np.array_equal(ws.read_mask(edited) > 0, expected > 0)
    ui.screenshot("anomaly-masks-drawn")
