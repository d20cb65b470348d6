"""The one place that decodes and encodes images and masks.

Everything that enters the workspace goes through `read_image` / `read_mask`, so limits
(decompression bombs), odd modes (16-bit, CMYK, palette, alpha), EXIF orientation and
broken files are handled once, with messages that name the file.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from dsaii_core.atomic import atomic_write_bytes
from dsaii_core.errors import DsaiiError

DEFAULT_MAX_PIXELS = 50_000_000
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
# The only decoders we run (Pillow's names for IMAGE_SUFFIXES): never EPS / PS, whose "decoder" is a
# Ghostscript process, nor any other plugin a crafted file could select by its first bytes.
DECODE_FORMATS = ("PNG", "JPEG", "BMP", "TIFF", "WEBP")


def max_pixels() -> int:
    """The pixel limit in force: DSAII_MAX_PIXELS from the environment, else 50 MP."""
    return int(os.environ.get("DSAII_MAX_PIXELS", DEFAULT_MAX_PIXELS))


# Pillow's own bomb guard stays on for the whole process at the project's limit (a warning at 1×, an
# error at 2×): other code decodes too (libraries reading images or uploads we never see).
# Our reader checks the caller's limit itself and says so in words.
Image.MAX_IMAGE_PIXELS = max_pixels()


def is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_SUFFIXES)


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1e6:.0f} MP" if pixels >= 1e6 else f"{pixels / 1e6:.2g} MP"


def _open(source: Path | bytes, name: str, limit: int | None) -> Image.Image:
    """Open, check the size against the limit, apply EXIF orientation and decode fully."""
    try:
        data = source if isinstance(source, bytes) else Path(source).read_bytes()
    except OSError as exc:
        raise DsaiiError(f"{name}: cannot read file ({exc.strerror or exc})") from exc
    if not data:
        raise DsaiiError(f"{name}: empty file")
    limit = max_pixels() if limit is None else limit
    try:
        image = Image.open(io.BytesIO(data), formats=DECODE_FORMATS)
    except Image.DecompressionBombError as exc:  # over twice Pillow's process-wide limit
        pixels = re.search(r"\((\d+) pixels\)", str(exc))
        size = _megapixels(int(pixels.group(1))) if pixels else "the image"
        raise DsaiiError(f"{name}: {size} is over the limit of {_megapixels(min(limit, Image.MAX_IMAGE_PIXELS or limit))}"
                         " (possible decompression bomb; raise DSAII_MAX_PIXELS if the image is genuine)") from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise DsaiiError(f"{name}: not an image or an unsupported format "
                         f"(read: {', '.join(DECODE_FORMATS)})") from exc
    width, height = image.size
    if width * height > limit:
        raise DsaiiError(
            f"{name}: {width}×{height} pixels is over the limit of {_megapixels(limit)} "
            "(possible decompression bomb; raise DSAII_MAX_PIXELS if the image is genuine)")
    if width < 1 or height < 1:
        raise DsaiiError(f"{name}: image has no pixels")
    try:
        image.load()
        image = ImageOps.exif_transpose(image)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise DsaiiError(f"{name}: truncated or corrupt image ({exc})") from exc
    return image


def _to_gray_float(image: Image.Image) -> np.ndarray:
    """High-bit-depth single-channel modes as float in 0..255."""
    array = np.asarray(image)
    if image.mode == "F":
        top = float(np.nanmax(array)) if array.size else 0.0
        scale = 255.0 / top if top > 255 else (255.0 if top <= 1.0 else 1.0)
        return np.nan_to_num(array, nan=0.0) * scale
    return array.astype(np.float64) * (255.0 / 65535.0)


def to_rgb_array(image: Image.Image) -> np.ndarray:
    """An 8-bit H×W×3 RGB array from any PIL mode (alpha composited over white)."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        gray = np.clip(np.rint(_to_gray_float(image)), 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()


def read_image(source: Path | bytes, name: str | None = None, *, limit: int | None = None) -> np.ndarray:
    """Decode an image file (or its bytes) to an 8-bit H×W×3 RGB array.

    Raises DsaiiError naming the file when it is empty, truncated, not an image or too large.
    """
    name = name or (str(source) if not isinstance(source, bytes) else "image")
    return to_rgb_array(_open(source, name, limit))


def read_pixels(source: Path | bytes, name: str | None = None, *, limit: int | None = None) -> np.ndarray:
    """Decode to the array of the file's own mode (e.g. H×W×4 for RGBA), unconverted.

    For callers that check the layout themselves.
    """
    name = name or (str(source) if not isinstance(source, bytes) else "image")
    return np.asarray(_open(source, name, limit)).copy()


def read_gray(source: Path | bytes, name: str | None = None, *, limit: int | None = None) -> np.ndarray:
    """Decode a single-channel image at its own depth: uint8, uint16, int32 or float32 (colour: brightest channel).

    For score maps, where squeezing 16-bit or float values into 8 bits would tie thousands of scores.
    """
    name = name or (str(source) if not isinstance(source, bytes) else "image")
    image = _open(source, name, limit)
    if image.mode.startswith("I;16"):
        return np.asarray(image).astype(np.uint16)  # native byte order whatever the file's (I;16B is big-endian)
    if image.mode in ("I", "F", "L"):
        return np.asarray(image).copy()
    return to_rgb_array(image).max(axis=2)


def binarize(mask: np.ndarray) -> np.ndarray:
    """0/255 uint8 from any mask array: bool, 0/1, 0/255 or soft; threshold at half range."""
    mask = np.asarray(mask)
    if mask.ndim == 3:
        mask = mask.max(axis=2)
    # bool → uint8 views and a uint8 product: ~50× faster than np.where on a megapixel mask.
    if mask.dtype == bool:
        return np.ascontiguousarray(mask).view(np.uint8) * np.uint8(255)
    if mask.dtype == np.uint8:
        return (mask >= 128).view(np.uint8) * np.uint8(255)
    mask = mask.astype(np.float64)
    top = 1.0 if mask.size == 0 or np.nanmax(mask) <= 1.0 else (255.0 if np.nanmax(mask) <= 255 else 65535.0)
    return np.where(np.nan_to_num(mask) >= top / 2, 255, 0).astype(np.uint8)


def _mask_gray(image: Image.Image) -> np.ndarray:
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        return np.clip(_to_gray_float(image), 0, 255).astype(np.uint8)
    if image.mode in ("1", "L"):  # the usual mask modes: no RGB copy and no channel reduction (10× faster)
        return np.asarray(image.convert("L"))
    if image.mode in ("RGBA", "LA", "PA", "P"):
        rgba = np.asarray(image.convert("RGBA"))
        colour = rgba[:, :, :3].max(axis=2)
        # A mask drawn as opaque strokes on a transparent sheet: the alpha is the mask.
        return np.minimum(colour, rgba[:, :, 3]) if colour.min() != colour.max() else rgba[:, :, 3]
    return np.asarray(image.convert("RGB")).max(axis=2)


def read_mask(source: Path | bytes, name: str | None = None, *, shape: tuple[int, int] | None = None,
              resize: bool = False, limit: int | None = None) -> np.ndarray:
    """Decode a mask to H×W uint8 with values 0/255 (soft masks thresholded at 128).

    With `shape` = (height, width) of the image it belongs to, a mask of another size is an
    error unless `resize` is true (then it is resized smoothly and thresholded).
    """
    name = name or (str(source) if not isinstance(source, bytes) else "mask")
    gray = _mask_gray(_open(source, name, limit))
    if shape is not None and gray.shape != tuple(shape):
        if not resize:
            raise DsaiiError(f"{name}: mask is {gray.shape[1]}×{gray.shape[0]} but its image is "
                             f"{shape[1]}×{shape[0]}")
        gray = np.asarray(Image.fromarray(gray).resize((shape[1], shape[0]), Image.BILINEAR))
    return binarize(gray)


PNG_LEVEL = 3  # OpenCV's zlib level: ~2.5× faster than Pillow's default (level 6) here, files ~12 % larger
_TO_BGR = {3: cv2.COLOR_RGB2BGR, 4: cv2.COLOR_RGBA2BGRA}


def encode_png(array: np.ndarray, compress_level: int = PNG_LEVEL) -> bytes:
    """PNG bytes of an 8-bit RGB(A), grey or mask array; identical input gives identical bytes.

    Encoded by OpenCV, whose encoder is the fastest here: workspace images are written often and exports
    copy the files, so speed matters more than a few per cent of size.
    """
    array = np.ascontiguousarray(array)
    if array.dtype != np.uint8:
        raise ValueError(f"expected uint8, got {array.dtype}")
    if array.ndim == 3:
        array = cv2.cvtColor(array, _TO_BGR[array.shape[2]])
    ok, data = cv2.imencode(".png", array, [cv2.IMWRITE_PNG_COMPRESSION, compress_level])
    if not ok:
        raise ValueError(f"could not encode an array of shape {array.shape} as PNG")
    return data.tobytes()


def write_png(path: Path, array: np.ndarray, compress_level: int = PNG_LEVEL) -> bytes:
    """Encode `array` as PNG and write it atomically; returns the bytes written."""
    data = encode_png(array, compress_level)
    atomic_write_bytes(path, data)
    return data


def thumbnail(array: np.ndarray, size: int = 256) -> np.ndarray:
    """A copy no larger than size×size, aspect kept."""
    image = Image.fromarray(array)
    image.thumbnail((size, size), Image.BILINEAR)
    return np.asarray(image)


def preview(path: Path, cache: Path, size: int = 256, image: np.ndarray | None = None) -> np.ndarray:
    """The thumbnail of an image file for a grid, kept in `cache` as a JPEG named by the file's path, size and
    modification time: decoding a 1024² photo to show it at 256 px costs tens of milliseconds, the JPEG one.
    `image`: the file's pixels when the caller has them (a preview made as the file is written)."""
    stat = path.stat()
    key = hashlib.sha1(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{size}".encode()).hexdigest()[:24]
    kept = cache / f"{key}.jpg"
    if image is None and kept.is_file():
        small = cv2.imdecode(np.fromfile(kept, np.uint8), cv2.IMREAD_COLOR)
        if small is not None:
            return cv2.cvtColor(small, cv2.COLOR_BGR2RGB)
    small = thumbnail(read_image(path) if image is None else image, size)
    done, data = cv2.imencode(".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    if done:
        atomic_write_bytes(kept, data.tobytes())
    return small
