"""The Object masks page in a real browser: the mask editor on a 1024² image — a brush fix saved with Enter, then
object / background points and a box (green, red, blue) answered by GrabCut, applied locally, saved once."""

import cv2
import numpy as np

from dsaii_core import imageio
from dsaii_core.demo import DEMO_DIR
from dsaii_core.masks import editor as core, objects
from dsaii_core.masks.object_job import generate_for_class
from dsaii_core.masks.select import Prompt
from dsaii_core.workspace import Workspace
from tests.e2e.editor_driver import Editor, stroke

SIDE = 1024
GREEN, RED, BLUE = (0, 200, 83), (255, 23, 68), (41, 121, 255)


def test_fix_by_hand_then_by_clicks(app_server, ui, tmp_path):
    ws = Workspace.create(tmp_path / "ws")
    cls = ws.add_class("hazelnut")
    for path in sorted((DEMO_DIR / "hazelnut" / "train" / "good").glob("*.png"))[:2]:
        ws.add_image(cls, cv2.resize(imageio.read_image(path), (SIDE, SIDE), interpolation=cv2.INTER_CUBIC))
    generate_for_class(ws, cls)
    item = objects.review_rows(ws, cls)[0].item
    generated = ws.object_mask(item)
    ui.driver.set_window_size(1280, 1000)
    ui.open(app_server(ws.root) + "/object_masks")
    ui.click(f".st-key-om_open_{item.id} button")
    editor = Editor(ui.driver)
    state = editor.wait_ready()
    expected = ws.read_mask(generated) > 0
    assert int(state["ones"]) == int(expected.sum()) and state["prompts"] == "on"
    ui.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", editor.canvas())

    # A brush stroke across the top-left background, saved with Enter: the generated mask plus the stroke.
    clients = [editor.client(60, 60), editor.client(200, 60), editor.client(200, 120)]
    editor.drag(clients)
    painted = expected.astype(np.uint8)
    stroke(painted, [editor.image_point(c) for c in clients], int(state["size"]), 1)
    editor.wait(lambda s: int(s["ones"]) == int(painted.sum()))
    editor.keys("\ue007")
    ui.wait_until(lambda: ws.object_mask(item).id != generated.id)
    fixed = ws.object_mask(item)
    assert fixed.source == "editor" and fixed.params.get("accepted")  # a fix by hand counts as checked
    assert np.array_equal(ws.read_mask(fixed) > 0, painted > 0)
    editor.wait(lambda s: s["dirty"] == "false" and s["state"] == "ready")

    # Prompts: an object point (green), a background point on the stroke (red), a box (blue); each answered by
    # GrabCut refining the saved mask, applied in the editor as one undoable step.
    centre, on_stroke = editor.client(512, 512), editor.client(130, 60)
    editor.keys("o")
    editor.click(centre)
    first = editor.wait(lambda s: s["state"] == "ready" and s["undo"] == "2")  # the stroke, then the answer
    assert editor.pixel(centre) == GREEN
    editor.keys("n")
    editor.click(on_stroke)
    editor.wait(lambda s: s["state"] == "ready" and s["undo"] == "3")
    assert editor.pixel(on_stroke) == RED
    corner, far = editor.client(120, 130), editor.client(900, 920)
    editor.keys("x")
    editor.drag([corner, editor.client(500, 500), far])
    state = editor.wait(lambda s: s["state"] == "ready" and s["undo"] == "4")
    assert editor.pixel((corner[0] + 40, corner[1])) == BLUE  # the box's top edge
    assert saved_id(ws, item) == fixed.id  # answers stay in the editor until saved

    # Undo / redo the last answer locally, then save: exactly GrabCut's answer for the three prompts.
    editor.keys("z", ctrl=True)
    editor.wait(lambda s: s["undo"] == "3" and s["redo"] == "1")
    editor.keys("y", ctrl=True)
    editor.wait(lambda s: s["undo"] == "4" and s["ones"] == state["ones"])
    editor.keys("\ue007")
    ui.wait_until(lambda: saved_id(ws, item) != fixed.id)
    (x0, y0), (x1, y1) = editor.image_point(corner), editor.image_point(far)
    prompt = Prompt(positive=[editor.image_point(centre)], negative=[editor.image_point(on_stroke)],
                    box=(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)))
    answer = core.answer_prompt(ws.read_image(item), prompt, None, ws.read_mask(fixed)).mask
    saved = ws.read_mask(ws.object_mask(item)) > 0
    assert np.array_equal(saved, answer)
    assert not saved[55:66, 120:140].any() and saved[512, 512]  # the stroke is gone, the nut stays
    assert int(first["ones"]) != int(painted.sum())
    ui.screenshot("object-masks-editor")


def saved_id(ws: Workspace, item) -> int:
    return ws.object_mask(item).id
