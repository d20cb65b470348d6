"""Driving the mask editor (app_pages/mask_editor) with real pointer and key events, and redrawing what it should
have drawn with the editor's documented pixel rules (see the top of editor.js), so a test can compare exactly.

    editor = Editor(ui.driver)
    editor.wait_ready()
    editor.drag([editor.client(100, 100), editor.client(160, 100)])   # image pixels -> viewport pixels
"""

from __future__ import annotations

import math
import time

import numpy as np
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait



def on_root(body: str) -> str:
    """A script running `body` with `root` = the editor's root element (inside its shadow root)."""
    return ("for (const host of document.querySelectorAll('*')) {"
            f"  const root = host.shadowRoot && host.shadowRoot.querySelector('.me'); if (root) {{ {body} }} }}"
            "return null;")


class Editor:
    """The one mask editor on the page."""

    def __init__(self, driver):
        self.driver = driver

    def root(self):
        return self.driver.execute_script(on_root("return root;"))

    def state(self) -> dict:
        """The editor's test hooks (data-* of its root): tool, size, zoom, panX, panY, ones, undo, redo, ..."""
        return self.driver.execute_script(on_root("return {...root.dataset};")) or {}

    def wait(self, condition, timeout: float = 60) -> dict:
        """Wait until condition(state) holds; returns that state."""
        found = {}

        def check(_):
            found.update(self.state())
            return bool(found) and condition(found)
        WebDriverWait(self.driver, timeout, poll_frequency=0.1).until(check)
        return found

    def wait_ready(self, timeout: float = 60) -> dict:
        return self.wait(lambda s: s.get("state") == "ready", timeout)

    def show(self) -> dict:
        """Wait until the editor is ready and scroll its canvas to the middle of the window; returns its state."""
        state = self.wait_ready()
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", self.canvas())
        return state

    def canvas(self):
        return self.driver.execute_script(on_root("return root.querySelector('canvas');"))

    def press(self, name: str) -> None:
        """Click a toolbar button by its data-tool or data-action name (it may lie under the page's header when
        the canvas is scrolled into view, so the click is the button's own, not the pointer's)."""
        self.driver.execute_script(on_root("root.querySelector(`[data-tool='${arguments[0]}'], "
                                           "[data-action='${arguments[0]}']`).click(); return true;"), name)

    def keys(self, *keys: str, ctrl: bool = False, shift: bool = False) -> None:
        """Type keys into the editor (focused first, as a click on it would)."""
        self.driver.execute_script(on_root("root.focus(); return true;"))
        chain = ActionChains(self.driver)
        for modifier, held in ((Keys.CONTROL, ctrl), (Keys.SHIFT, shift)):
            if held:
                chain = chain.key_down(modifier)
        chain = chain.send_keys(*keys)
        for modifier, held in ((Keys.SHIFT, shift), (Keys.CONTROL, ctrl)):
            if held:
                chain = chain.key_up(modifier)
        chain.perform()

    def view(self) -> tuple[float, float, float, float, float]:
        """(canvas left, canvas top, panX, panY, zoom) as the editor maps the pointer."""
        rect = self.driver.execute_script("return arguments[0].getBoundingClientRect().toJSON();", self.canvas())
        state = self.state()
        return rect["left"], rect["top"], float(state["panX"]), float(state["panY"]), float(state["zoom"])

    def client(self, x: float, y: float) -> tuple[int, int]:
        """The viewport pixel nearest to image point (x, y)."""
        left, top, pan_x, pan_y, zoom = self.view()
        return round(left + pan_x + x * zoom), round(top + pan_y + y * zoom)

    def image_point(self, client: tuple[int, int]) -> tuple[float, float]:
        """The image point the editor reads at a viewport pixel: (clientX - left - panX) / zoom."""
        left, top, pan_x, pan_y, zoom = self.view()
        return (client[0] - left - pan_x) / zoom, (client[1] - top - pan_y) / zoom

    def drag(self, points: list[tuple[int, int]], button: int = 0) -> None:
        """Press at the first viewport point, move through the others (one pointer event each), release."""
        chain = ActionChains(self.driver, duration=0)
        pointer = chain.w3c_actions.pointer_action
        pointer.move_to_location(*points[0])
        pointer.pointer_down(button=button)
        for point in points[1:]:
            pointer.move_to_location(*point)
        pointer.pointer_up(button=button)
        chain.perform()
        time.sleep(0.05)

    def click(self, point: tuple[int, int], button: int = 0) -> None:
        self.drag([point], button)

    def pixel(self, client: tuple[int, int]) -> tuple[int, int, int]:
        """The colour the editor's canvas shows at a viewport pixel."""
        return tuple(self.driver.execute_script(
            "const c = arguments[0], r = c.getBoundingClientRect(), k = c.width / r.width;"
            "return [...c.getContext('2d').getImageData(Math.floor((arguments[1] - r.left) * k),"
            " Math.floor((arguments[2] - r.top) * k), 1, 1).data].slice(0, 3);", self.canvas(), *client))


# ---- The editor's pixel rules, redrawn --------------------------------------------------------------------------
def disc_rows(size: int) -> list[tuple[int, int]]:
    reach, rows = math.ceil(size / 2), []
    for dy in range(-reach, reach + 1):
        dx = -1
        while 4 * ((dx + 1) ** 2 + dy * dy) <= size * size:
            dx += 1
        if dx >= 0:
            rows.append((dy, dx))
    return rows


def bresenham(x0: int, y0: int, x1: int, y1: int) -> list[tuple[int, int]]:
    dx, sx, dy, sy = abs(x1 - x0), 1 if x0 < x1 else -1, -abs(y1 - y0), 1 if y0 < y1 else -1
    err, points = dx + dy, []
    while True:
        points.append((x0, y0))
        if (x0, y0) == (x1, y1):
            return points
        e2 = 2 * err
        if e2 >= dy:
            err += dy
            x0 += sx
        if e2 <= dx:
            err += dx
            y0 += sy


def stroke(mask: np.ndarray, points: list[tuple[float, float]], size: int, value: int) -> None:
    """A brush (value 1) or eraser (0) stroke through image points, as the editor paints it."""
    height, width = mask.shape
    pixels = [(math.floor(x), math.floor(y)) for x, y in points]
    centres = [pixels[0]]
    for (x0, y0), (x1, y1) in zip(pixels, pixels[1:]):
        centres += bresenham(x0, y0, x1, y1)
    for cx, cy in centres:
        for dy, dx in disc_rows(size):
            if 0 <= cy + dy < height:
                mask[cy + dy, max(0, cx - dx):min(width, cx + dx + 1)] = value


def snap(point: tuple[float, float]) -> tuple[int, int]:
    return math.floor(point[0] + 0.5), math.floor(point[1] + 0.5)


def fill_polygon(mask: np.ndarray, points: list[tuple[int, int]], value: int) -> None:
    """Pixels whose centres lie inside the polygon (even-odd), with the editor's crossing arithmetic."""
    height, width = mask.shape
    ys = [y for _, y in points]
    for y in range(max(0, math.floor(min(ys))), min(height - 1, math.ceil(max(ys))) + 1):
        yc, crossings = y + 0.5, []
        for (ax, ay), (bx, by) in zip([points[-1], *points[:-1]], points):
            if (ay <= yc) != (by <= yc):
                crossings.append(ax + (yc - ay) * (bx - ax) / (by - ay))
        crossings.sort()
        for a, b in zip(crossings[::2], crossings[1::2]):
            start, stop = max(0, math.ceil(a - 0.5)), min(width, math.ceil(b - 0.5))
            if start < stop:
                mask[y, start:stop] = value
