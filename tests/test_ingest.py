import io
import json
import shutil
import zipfile

import numpy as np
import pytest
from PIL import Image

from dsaii_core import imageio
from dsaii_core.demo import DEMO_DIR
from dsaii_core.errors import DsaiiError
from dsaii_core.ingest import detect_layout, import_paths, import_uploads, import_zip
from dsaii_core.workspace import Workspace


def png(seed: int, size=(24, 32)) -> bytes:
    array = np.random.default_rng(seed).integers(0, 255, (*size, 3), dtype=np.uint8)
    return imageio.encode_png(array)


@pytest.fixture
def ws(tmp_path) -> Workspace:
    return Workspace.create(tmp_path / "ws")


def test_layouts_are_recognised(tmp_path):
    assert detect_layout(DEMO_DIR) == "mvtec"
    assert detect_layout(DEMO_DIR / "hazelnut") == "mvtec"
    (tmp_path / "dsaii/screw/normal").mkdir(parents=True)
    (tmp_path / "folders/screw").mkdir(parents=True)
    (tmp_path / "folders/screw/a.png").write_bytes(png(0))
    assert detect_layout(tmp_path / "dsaii") == "dsaii"
    assert detect_layout(tmp_path / "folders") == "class_folders"
    assert detect_layout(tmp_path / "folders/screw") == "images"


def test_mvtec_root_gives_normals_real_anomalies_with_masks_and_bank(ws):
    report = import_paths(ws, [DEMO_DIR / "hazelnut"])
    cls = ws.get_class("hazelnut")
    normals = ws.catalog.items(cls.id, "normal")
    anomalies = ws.catalog.items(cls.id, "anomaly")
    assert (len(normals), len(anomalies)) == (18, 8) and not report.errors
    assert {a.defect for a in anomalies} == {"crack", "cut", "hole", "print"}
    for anomaly in anomalies:
        mask = ws.read_mask(ws.catalog.mask(anomaly.mask_id))
        assert mask.shape == (anomaly.height, anomaly.width) and set(np.unique(mask)) <= {0, 255}
        assert anomaly.status == "accepted"
    assert len(ws.catalog.bank_masks()) == 8 == report.bank_masks


def test_a_crash_between_an_anomaly_and_its_mask_leaves_neither(ws, monkeypatch):
    """Otherwise the anomaly would stay maskless: export skips it and re-import sees its sha256 as known."""
    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # what a kill or Ctrl-C does between the two writes
    with monkeypatch.context() as patch:
        patch.setattr(Workspace, "add_mask", crash)
        with pytest.raises(KeyboardInterrupt):
            import_paths(ws, [DEMO_DIR / "hazelnut"])
    assert ws.catalog.items(role="anomaly") == []
    import_paths(ws, [DEMO_DIR / "hazelnut"])
    anomalies = ws.catalog.items(role="anomaly")
    assert len(anomalies) == 8 and all(a.mask_id is not None for a in anomalies)


def test_reimport_skips_duplicates_by_sha256(ws):
    import_paths(ws, [DEMO_DIR / "transistor"])
    again = import_paths(ws, [DEMO_DIR / "transistor"])
    assert again.added == 0 and again.duplicates == 22


def test_class_folders_and_one_bad_file_among_good_ones(ws, tmp_path):
    root = tmp_path / "src"
    for name in ("screw", "ñut 🥜"):
        (root / name).mkdir(parents=True)
    (root / "screw/a.png").write_bytes(png(1))
    (root / "screw/b.png").write_bytes(png(2)[:100])  # truncated
    (root / "ñut 🥜/c.jpg").write_bytes(b"<html>not an image</html>")
    (root / "ñut 🥜/d.png").write_bytes(png(3))
    report = import_paths(ws, [root])
    assert report.added == 2
    assert sorted(n for n, _ in report.errors) == ["b.png", "c.jpg"]
    assert "truncated" in dict(report.errors)["b.png"]
    assert sorted(c.name for c in ws.classes()) == ["screw", "ñut 🥜"]


def test_class_option_puts_everything_in_one_class(ws, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a/x.png").write_bytes(png(4))
    (tmp_path / "y.png").write_bytes(png(5))
    import_paths(ws, [tmp_path / "a", tmp_path / "y.png"], class_name="bolt", texture=True)
    assert [(c.name, c.kind) for c in ws.classes()] == [("bolt", "texture")]
    assert len(ws.catalog.items()) == 2


def test_dsaii_layout_keeps_provenance_and_pairs_masks(ws, tmp_path):
    root = tmp_path / "dsaii" / "screw"
    for folder in ("normal", "anomaly", "mask"):
        (root / folder).mkdir(parents=True)
    (root / "normal/000.png").write_bytes(png(6))
    (root / "anomaly/000.png").write_bytes(png(7))
    (root / "mask/000.png").write_bytes(imageio.encode_png(np.full((24, 32), 255, np.uint8)))
    (root / "img_url.json").write_text(json.dumps([{"img_path": "./screw/normal/000.png", "url": "http://x/1.png"}]))
    import_paths(ws, [tmp_path / "dsaii"])
    normal, = ws.catalog.items(role="normal")
    anomaly, = ws.catalog.items(role="anomaly")
    assert ws.catalog.provenance(normal.id)["source_url"] == "http://x/1.png"
    assert ws.catalog.mask(anomaly.mask_id).kind == "anomaly"


def make_zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize("evil", ["../evil.png", "/abs/evil.png", "a/../../evil.png", "..\\evil.png"])
def test_zip_slip_is_refused_and_nothing_escapes(ws, tmp_path, evil):
    data = make_zip({"screw/ok.png": png(8), evil: png(9)})
    with pytest.raises(DsaiiError, match="outside the import folder"):
        import_zip(ws, data, name="evil.zip")
    assert not list(tmp_path.rglob("evil.png"))
    assert ws.catalog.items() == []


def test_zip_over_the_size_cap_is_refused(ws):
    data = make_zip({"screw/big.png": b"\0" * 5000})
    with pytest.raises(DsaiiError, match="unpacks to more than"):
        import_zip(ws, data, max_bytes=1000)


def test_not_a_zip_is_a_clear_error(ws):
    with pytest.raises(DsaiiError, match="not a valid zip"):
        import_zip(ws, b"garbage", name="x.zip")


def test_zip_of_class_folders_imports(ws):
    report = import_zip(ws, make_zip({"data/screw/a.png": png(10), "data/nut/b.png": png(11)}))
    assert report.added == 2 and sorted(c.name for c in ws.classes()) == ["nut", "screw"]


def test_uploads_need_a_class_and_keep_user_file_names_in_errors(ws):
    with pytest.raises(DsaiiError, match="class name"):
        import_uploads(ws, [("a.png", png(12))], class_name=None)
    report = import_uploads(ws, [("../../a.png", png(12)), ("bad.png", b"nope")], class_name="screw")
    assert report.added == 1 and report.errors[0][0] == "bad.png"
    assert "bad.png" in report.errors[0][1]


def test_missing_path_is_an_error(ws, tmp_path):
    with pytest.raises(DsaiiError, match="no such file"):
        import_paths(ws, [tmp_path / "nope"])


def test_anomaly_without_mask_is_reported_and_rest_imported(ws, tmp_path):
    root = tmp_path / "bolt"
    shutil.copytree(DEMO_DIR / "hazelnut", root)
    (root / "ground_truth/crack/000_mask.png").unlink()
    report = import_paths(ws, [root])
    assert [n for n, _ in report.errors] == ["000.png"]
    assert len(ws.catalog.items(role="anomaly")) == 7


def test_soft_ground_truth_masks_are_binarised(ws):
    import_paths(ws, [DEMO_DIR / "magnetic_tile"], texture=True)
    for anomaly in ws.catalog.items(role="anomaly"):
        assert set(np.unique(ws.read_mask(ws.catalog.mask(anomaly.mask_id)))) <= {0, 255}


def test_exif_rotated_upload_is_stored_upright(ws):
    image = Image.new("RGB", (40, 20))
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif.tobytes())
    import_uploads(ws, [("rot.jpg", buffer.getvalue())], class_name="c")
    item, = ws.catalog.items()
    assert (item.width, item.height) == (20, 40)
