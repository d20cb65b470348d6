"""Zip imports cap each entry's size and compression ratio; uploads reach the disk in blocks."""

from __future__ import annotations

import io
import struct
import tomllib
import zipfile
from pathlib import Path

import numpy as np
import pytest

from dsaii_core import imageio
from dsaii_core.ingest import import_uploads, import_zip, safe_extract
from dsaii_core.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]


def png(seed: int, size=(24, 32)) -> bytes:  # random pixels: 640×640 is a 1.2 MB PNG
    return imageio.encode_png(np.random.default_rng(seed).integers(0, 255, (*size, 3), dtype=np.uint8))


def make_zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


class BlocksOnly(io.BytesIO):
    """An upload larger than 1 MB that may only be read in blocks of at most 1 MB."""

    def __init__(self, data: bytes):
        super().__init__(data)
        assert len(data) > 1 << 20

    def read(self, size: int | None = -1) -> bytes:
        block = super().read(size)
        assert len(block) <= 1 << 20, f"read {len(block)} bytes at once"
        return block

    def getvalue(self) -> bytes:
        raise AssertionError("getvalue() holds the whole upload")


@pytest.fixture
def ws(tmp_path) -> Workspace:
    return Workspace.create(tmp_path / "ws")


def test_a_zip_bomb_entry_is_refused_by_name_and_the_rest_imports(ws):
    bomb = make_zip({"screw/a.png": png(1), "screw/zeros.bmp": bytes(5 * 1024**2)})
    assert len(bomb) < 100_000  # 5 MB of zeros compress ~1000:1
    report = import_zip(ws, bomb, name="bomb.zip")
    assert report.added == 1
    assert [(name, message) for name, message in report.errors if "zeros" in message] == [
        ("zeros.bmp", "zip entry 'screw/zeros.bmp' unpacks to over 100 times its compressed size (a zip bomb?): "
                      "not unpacked")]


def test_an_entry_over_the_size_cap_is_refused_and_never_written(tmp_path):
    data = make_zip({"big.bin": np.random.default_rng(0).bytes(300_000), "ok.png": png(2)})
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        skipped = safe_extract(archive, tmp_path, max_entry_bytes=1024**2 // 4)
    assert skipped == [("big.bin", "zip entry 'big.bin' unpacks to more than 0.25 MB: not unpacked")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.png"]


def test_a_header_that_understates_an_entry_unpacks_no_more_than_it_says(tmp_path):
    # Why the caps can trust the header: zipfile stops at the declared size and the CRC check fails.
    data = bytearray(make_zip({"zeros.raw": bytes(3 * 1024**2)}))
    struct.pack_into("<I", data, 22, 1000)                                # local header's size
    struct.pack_into("<I", data, data.rfind(b"PK\x01\x02") + 24, 1000)    # central directory's size
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        skipped = safe_extract(archive, tmp_path)
    assert [name for name, reason in skipped if "damaged zip entry" in reason] == ["zeros.raw"]
    assert not (tmp_path / "zeros.raw").exists() or (tmp_path / "zeros.raw").stat().st_size <= 1000


def test_small_well_compressed_files_are_fine(tmp_path):
    data = make_zip({"LICENSE": b"MIT License\n" + b" " * 200_000, "a.png": png(3)})
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert safe_extract(archive, tmp_path) == []


def test_uploads_are_copied_to_disk_in_blocks_and_zips_read_in_place(ws):
    files = [("a.png", BlocksOnly(png(4, (640, 640)))), ("b.png", BlocksOnly(png(5, (640, 640)))),
             ("lab.zip", BlocksOnly(make_zip({"nut/c.png": png(6, (640, 640))})))]
    report = import_uploads(ws, files, class_name="screw")
    assert report.added == 3 and not report.errors
    assert sorted(c.name for c in ws.catalog.classes()) == ["nut", "screw"]


def test_bytes_uploads_still_work(ws):
    assert import_uploads(ws, [("a.png", png(7))], class_name="screw").added == 1


def test_upload_limit_is_200_mb_by_default():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] == 200
