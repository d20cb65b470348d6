"""imageio against a bad-input corpus generated here."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from dsaii_core import imageio
from dsaii_core.errors import DsaiiError


def png_bytes(image: Image.Image, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **kwargs)
    return buffer.getvalue()


def jpeg_bytes(image: Image.Image, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", **kwargs)
    return buffer.getvalue()


def gradient(width=64, height=48) -> Image.Image:
    x = np.linspace(0, 255, width, dtype=np.uint8)
    return Image.fromarray(np.stack([np.tile(x, (height, 1))] * 3, axis=2))


def noise(width=64, height=48) -> Image.Image:
    return Image.fromarray(np.random.default_rng(0).integers(0, 255, (height, width, 3), dtype=np.uint8))


def huge_png_header(width: int, height: int) -> bytes:
    """A tiny PNG file whose header claims a huge size (a decompression bomb's first bytes)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 10)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("data, fragment", [
    (b"", "empty file"),
    (b"hello, I am text pretending to be a PNG", "not an image"),
    (png_bytes(noise())[:2000], "truncated or corrupt"),
    (jpeg_bytes(noise(256, 256))[:3000], "truncated or corrupt"),
    (huge_png_header(30000, 30000), "over the limit"),
])
def test_bad_files_raise_clear_error_naming_the_file(data, fragment):
    with pytest.raises(DsaiiError, match=fragment) as info:
        imageio.read_image(data, "broken.png")
    assert str(info.value).startswith("broken.png:")


def test_pixel_limit_is_configurable(monkeypatch):
    data = png_bytes(gradient(100, 100))
    monkeypatch.setenv("DSAII_MAX_PIXELS", "5000")
    with pytest.raises(DsaiiError, match="over the limit"):
        imageio.read_image(data, "a.png")
    assert imageio.read_image(data, "a.png", limit=10_000).shape == (100, 100, 3)


def test_16_bit_png_is_scaled_to_8_bit():
    values = np.array([[0, 65535], [32896, 257]], dtype=np.uint16)
    out = imageio.read_image(png_bytes(Image.fromarray(values)), "16.png")
    assert out.dtype == np.uint8 and out.shape == (2, 2, 3)
    assert out[:, :, 0].tolist() == [[0, 255], [128, 1]]


def test_read_gray_keeps_the_depth_of_16_bit_and_float_maps(tmp_path):
    values = np.array([[0, 65535], [256, 257]], dtype=np.uint16)  # 256 and 257 are one 8-bit level
    assert imageio.read_gray(png_bytes(Image.fromarray(values)), "16.png").tolist() == values.tolist()
    floats = np.array([[0.25, 1e-6], [3.5, -2.0]], dtype=np.float32)
    Image.fromarray(floats).save(tmp_path / "map.tiff")
    assert np.array_equal(imageio.read_gray(tmp_path / "map.tiff"), floats)
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[0, 0] = (10, 200, 30)
    assert imageio.read_gray(png_bytes(Image.fromarray(rgb)), "rgb.png")[0, 0] == 200
    with pytest.raises(DsaiiError, match="map.png: empty file"):
        imageio.read_gray(b"", "map.png")


def test_cmyk_jpeg_becomes_rgb():
    out = imageio.read_image(jpeg_bytes(Image.new("CMYK", (8, 8), (0, 255, 255, 0))), "cmyk.jpg")
    assert out.shape == (8, 8, 3)
    assert out[4, 4, 0] > 200 and out[4, 4, 1] < 60  # red


def test_palette_png_with_transparency_is_composited_on_white():
    image = Image.new("P", (4, 4), 0)
    image.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    image.putpixel((0, 0), 1)
    out = imageio.read_image(png_bytes(image, transparency=0), "p.png")
    assert out[1, 1].tolist() == [255, 255, 255]  # transparent red -> white
    assert out[0, 0].tolist() == [0, 0, 255]


def test_grey_alpha_and_rgba_become_rgb():
    la = Image.new("LA", (3, 3), (10, 255))
    rgba = Image.new("RGBA", (3, 3), (0, 0, 0, 0))
    assert imageio.read_image(png_bytes(la), "la.png")[0, 0].tolist() == [10, 10, 10]
    assert imageio.read_image(png_bytes(rgba), "rgba.png")[0, 0].tolist() == [255, 255, 255]


def test_exif_orientation_is_applied():
    image = Image.new("RGB", (40, 20), (0, 0, 0))
    image.paste((255, 255, 255), (0, 0, 10, 20))  # white band on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    out = imageio.read_image(jpeg_bytes(image, exif=exif.tobytes(), quality=95), "exif.jpg")
    assert out.shape == (40, 20, 3)
    assert out[:10, :, 0].mean() > 200 and out[-10:, :, 0].mean() < 50  # band now on top


def test_one_pixel_image_is_fine():
    assert imageio.read_image(png_bytes(Image.new("RGB", (1, 1), (1, 2, 3))), "1.png").tolist() == [[[1, 2, 3]]]


def test_soft_mask_is_binarised_at_128():
    soft = np.array([[0, 127, 128, 255]], dtype=np.uint8)
    assert imageio.read_mask(png_bytes(Image.fromarray(soft)), "m.png").tolist() == [[0, 0, 255, 255]]


def test_one_bit_mask_reads_as_0_255():
    mask = Image.new("1", (2, 2), 0)
    mask.putpixel((1, 1), 1)
    assert imageio.read_mask(png_bytes(mask), "m.png").tolist() == [[0, 0], [0, 255]]


def test_wrong_size_mask_is_rejected_unless_resizing_is_asked_for():
    data = png_bytes(Image.fromarray(np.full((10, 20), 255, np.uint8)))
    with pytest.raises(DsaiiError, match="m.png: mask is 20×10 but its image is 40×20"):
        imageio.read_mask(data, "m.png", shape=(20, 40))
    resized = imageio.read_mask(data, "m.png", shape=(20, 40), resize=True)
    assert resized.shape == (20, 40) and set(np.unique(resized)) == {255}


def test_binarize_handles_bool_float_and_colour():
    assert imageio.binarize(np.array([True, False])).tolist() == [255, 0]
    assert imageio.binarize(np.array([0.2, 0.7])).tolist() == [0, 255]
    assert imageio.binarize(np.array([[[0, 200, 0]]], np.uint8)).tolist() == [[255]]


def test_png_encoding_is_deterministic(tmp_path):
    array = np.random.default_rng(0).integers(0, 255, (16, 16, 3), dtype=np.uint8)
    first = imageio.write_png(tmp_path / "a.png", array)
    assert imageio.encode_png(array) == first == (tmp_path / "a.png").read_bytes()
    assert np.array_equal(imageio.read_image(tmp_path / "a.png"), array)


def test_pillow_bomb_guard_stays_on_process_wide_at_the_project_limit():
    # Other decoders in the process (libraries reading images we never see) rely on Pillow's guard.
    assert Image.MAX_IMAGE_PIXELS == imageio.max_pixels() == imageio.DEFAULT_MAX_PIXELS
    with pytest.raises(Image.DecompressionBombError):
        Image.open(io.BytesIO(huge_png_header(20000, 10000)))  # 200 MP: over twice the limit


def test_a_bomb_over_pillows_limit_still_gets_our_message_even_with_a_larger_limit():
    with pytest.raises(DsaiiError, match=r"^bomb.png: 200 MP is over the limit of 50 MP \(possible decompression"):
        imageio.read_image(huge_png_header(20000, 10000), "bomb.png", limit=10**9)


EPS = (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n%%EndComments\n"
       b"newpath 0 0 moveto 10 10 lineto stroke\nshowpage\n%%EOF\n")


@pytest.mark.parametrize("data", [EPS, b"%!PS-Adobe-3.0\n%%BoundingBox: 0 0 10 10\n" + EPS[40:]])
def test_eps_and_postscript_are_refused_without_running_ghostscript(monkeypatch, data):
    from PIL import EpsImagePlugin
    ran = []
    monkeypatch.setattr(EpsImagePlugin, "gs_binary", "gs")  # as if Ghostscript were installed
    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", lambda *a, **k: ran.append(a) or Image.new("RGB", (10, 10)).im)
    monkeypatch.setattr("subprocess.check_call", lambda *a, **k: ran.append(a))
    with pytest.raises(DsaiiError, match=r"^drawing.eps: not an image or an unsupported format \(read: PNG, JPEG"):
        imageio.read_image(data, "drawing.eps")
    assert ran == []


@pytest.mark.parametrize("fmt", ["GIF", "ICO", "PPM", "TGA"])
def test_formats_outside_the_list_are_refused(fmt):
    buffer = io.BytesIO()
    gradient(16, 16).save(buffer, format=fmt)
    with pytest.raises(DsaiiError, match="unsupported format"):
        imageio.read_image(buffer.getvalue(), f"x.{fmt.lower()}")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "BMP", "TIFF", "WEBP"])
def test_listed_formats_decode(fmt):
    buffer = io.BytesIO()
    gradient(16, 16).save(buffer, format=fmt)
    assert imageio.read_image(buffer.getvalue(), f"x.{fmt.lower()}").shape == (16, 16, 3)
