"""What a drawing canvas sends back is checked against the canvas before it becomes a mask."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from dsaii_core.errors import DsaiiError
from dsaii_core.masks.drawn import ADD_COLOUR, check_canvas_pixels, read_canvas


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def drawing(height: int, width: int) -> np.ndarray:
    rgba = np.zeros((height, width, 4), np.uint8)
    rgba[10:20, 10:30] = (*ADD_COLOUR, 200)
    return rgba


def bomb_png(width: int, height: int) -> bytes:
    """A few hundred bytes whose IHDR claims width × height RGBA pixels, with a small zlib stream."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(4096))) + chunk(b"IEND", b"")


def test_a_drawing_of_the_canvas_size_is_taken_as_sent():
    rgba = drawing(60, 80)
    assert np.array_equal(read_canvas(png(rgba), 60, 80), rgba)
    assert check_canvas_pixels(rgba, 60, 80) is rgba
    assert read_canvas(None, 60, 80) is None  # nothing drawn yet


@pytest.mark.parametrize("array", [drawing(120, 160), drawing(60, 80)[:, :, :3], drawing(60, 80)[:, :, 0],
                                   drawing(60, 80).astype(np.uint16)])
def test_a_picture_that_is_not_the_canvas_is_refused(array):
    with pytest.raises(DsaiiError, match=r"not its 60×80×4 RGBA drawing: ignored"):
        check_canvas_pixels(array, 60, 80)


def test_a_png_of_another_size_or_mode_is_refused():
    with pytest.raises(DsaiiError, match="ignored"):
        read_canvas(png(drawing(60, 80)[:, :, :3]), 60, 80)
    with pytest.raises(DsaiiError, match="ignored"):
        read_canvas(png(drawing(59, 80)), 60, 80)


def test_a_bomb_sent_as_the_drawing_is_refused_from_its_header_without_decoding(monkeypatch):
    decoded = []
    monkeypatch.setattr(Image.Image, "load", lambda self: decoded.append(self.size))
    with pytest.raises(DsaiiError, match=r"over the limit of 0\.0048 MP.*ignored"):
        read_canvas(bomb_png(5000, 5000), 60, 80)  # 25 MP: under Pillow's own guard
    assert decoded == []
