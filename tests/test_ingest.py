import io
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dsaii_core import imageio
from dsaii_core.demo import DEMO_DIR
from dsaii_core.errors import DsaiiError
from dsaii_core.ingest import detect_layout, import_paths, import_uploads, import_zip
from dsaii_core.workspace import Workspace
from tests.fixtures.import_trees import magnetic_tile_copy


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
    assert ws.catalog.provenance(normal.id).source_url == "http://x/1.png"
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
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (20, 40, 3), dtype=np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif.tobytes())
    import_uploads(ws, [("rot.jpg", buffer.getvalue())], class_name="c")
    item, = ws.catalog.items()
    assert (item.width, item.height) == (20, 40)


# -- issue 14, trap 2a: masks beside images are paired with their photos, never imported as images ----------

def test_magnetic_tile_masks_pair_with_their_photos_and_are_never_images(ws, tmp_path):
    root = magnetic_tile_copy(tmp_path / "magnetic_tile")
    report = import_paths(ws, [root], class_name="tile", texture=True)
    normals, anomalies = ws.catalog.items(role="normal"), ws.catalog.items(role="anomaly")
    assert (len(normals), len(anomalies), report.errors) == (3, 3, [])  # before: 12 "normal" images
    mask_bytes = {imageio.binarize(imageio.read_image(m)[..., 0]).tobytes() for m in root.rglob("*.png")}
    assert not any(imageio.binarize(ws.read_image(i)[..., 0]).tobytes() in mask_bytes for i in normals)
    for anomaly in anomalies:
        source = root / ws.catalog.provenance(anomaly.id).original_name.removeprefix("magnetic_tile/")
        expected = imageio.read_mask(source.with_suffix(".png"))
        assert (ws.read_mask(ws.catalog.mask(anomaly.mask_id)) == expected).all() and expected.any()
        assert anomaly.defect == "MT_Crack" and anomaly.status == "accepted"
    assert {ws.catalog.provenance(n.id).original_name.split("/")[1] for n in normals} == {"MT_Free"}
    assert len(report.masks_beside) == 6 and "6 masks beside their images were paired" in report.summary()
    assert "3 images whose mask marks a defect are real anomalies" in report.summary()


def test_an_all_black_mask_folder_alone_gives_normal_images_only(ws, tmp_path):
    """The issue's reproduction: MT_Free/Imgs, photos and all-black masks side by side."""
    root = magnetic_tile_copy(tmp_path / "mt")
    report = import_paths(ws, [root / "MT_Free" / "Imgs"])
    assert len(ws.catalog.items(role="normal")) == 3 and report.added == 3
    assert [role for *_, role in report.masks_beside] == ["normal"] * 3


def test_an_empty_mask_among_defect_masks_is_pointed_out(ws, tmp_path):
    """Magnetic-tile's MT_Uneven has such a mask: the photo is imported as normal, and the report says where to look."""
    root = magnetic_tile_copy(tmp_path / "mt")
    empty = sorted((root / "MT_Crack/Imgs").glob("*.png"))[0]
    empty.write_bytes(imageio.encode_png(np.zeros(imageio.read_image(empty).shape[:2], np.uint8)))
    report = import_paths(ws, [root], class_name="tile")
    assert report.empty_masks_among_anomalies() == [f"mt/MT_Crack/Imgs/{empty.stem}.jpg"]
    assert "(1 of these lie among anomalies: check them on Curate)" in report.summary()


def test_bsdata_masks_folder_pairs_with_photos_in_another_folder(ws, tmp_path):
    """BSData's shape: images/pitting/<stem>.jpg, masks/<stem>_mask.png, images/unannotated/ (the demo's files)."""
    screw, root = DEMO_DIR / "ball_screw", tmp_path / "bsdata"
    for folder in ("masks", "images/pitting", "images/unannotated"):
        (root / folder).mkdir(parents=True)
    for stem in ("001", "002"):
        shutil.copy(screw / f"test/pitting/{stem}.jpg", root / f"images/pitting/crop_{stem}.jpg")
        shutil.copy(screw / f"ground_truth/pitting/{stem}_mask.png", root / f"masks/crop_{stem}_mask.png")
    shutil.copy(screw / "train/good/000.jpg", root / "images/unannotated/crop_000.jpg")
    report = import_paths(ws, [root], class_name="ball_screw")
    anomalies = ws.catalog.items(role="anomaly")
    assert (report.added, len(anomalies), report.errors) == (3, 2, [])
    assert {a.defect for a in anomalies} == {"pitting"} and all(a.mask_id for a in anomalies)
    assert [c.name for c in ws.classes()] == ["ball_screw"]  # 'masks' is no class of images


def test_masks_without_their_photo_and_lone_binary_images_are_refused_by_name(ws, tmp_path):
    root = tmp_path / "parts"
    root.mkdir()
    (root / "a.png").write_bytes(png(20))
    defect = np.zeros((24, 32), np.uint8)
    defect[8:12, 8:12] = 255
    (root / "a_mask.png").write_bytes(imageio.encode_png(defect))
    (root / "b_mask.png").write_bytes(imageio.encode_png(np.zeros((24, 32), np.uint8)))  # no photo b.*
    stripes = np.zeros((24, 32), np.uint8)
    stripes[::2] = 255
    (root / "c.png").write_bytes(imageio.encode_png(stripes))  # binary, no name hint, no photo
    (root / "d.png").write_bytes(imageio.encode_png(np.full((24, 32, 3), 90, np.uint8)))  # blank
    (root / "e.png").write_bytes(png(21)[:60])  # corrupt: reported, the rest goes on
    report = import_paths(ws, [root])
    anomaly, = ws.catalog.items(role="anomaly")
    assert ws.catalog.provenance(anomaly.id).original_name == "parts/a.png"
    assert ws.catalog.items(role="normal") == []
    errors = dict(report.errors)
    assert sorted(errors) == ["c.png", "d.png", "e.png", "parts/b_mask.png"]
    assert "looks like a mask" in errors["parts/b_mask.png"] and "no photo named 'b.*'" in errors["parts/b_mask.png"]
    assert "looks like a mask" in errors["c.png"] and "blank image" in errors["d.png"]


def test_uploaded_photo_and_mask_of_one_stem_pair(ws):
    mask = np.zeros((24, 32), np.uint8)
    mask[5:9, 5:9] = 255
    report = import_uploads(ws, [("part.jpg", png(22)), ("part.png", imageio.encode_png(mask))], class_name="c",
                            license="CC0 1.0")
    anomaly, = ws.catalog.items()
    assert anomaly.role == "anomaly" and report.masks_beside == [("part.jpg", "part.png", "anomaly")]
    source = ws.catalog.provenance(anomaly.id)
    assert (source.original_name, source.license) == ("part.jpg", "CC0 1.0")


def test_mvtec_tree_with_ground_truth_still_imports_as_before(ws, tmp_path):
    root = tmp_path / "hazelnut"
    shutil.copytree(DEMO_DIR / "hazelnut", root)
    report = import_paths(ws, [root])
    assert (report.added, report.anomalies, report.masks_beside, report.errors) == (26, 8, [], [])


# -- near duplicates are imported and named ------------------------------------------------------------------

def test_near_duplicates_are_imported_and_named_pixel_copies_skipped(ws, tmp_path):
    root = tmp_path / "transistor"
    root.mkdir()
    good = DEMO_DIR / "transistor/train/good"
    for name in ("001.png", "003.png"):  # alike (6 of 64 hash bits apart) but different parts: not reported
        shutil.copy(good / name, root / name)
    image = imageio.read_image(good / "001.png")
    buffer = io.BytesIO()
    Image.fromarray(image).resize((128, 128)).save(buffer, "JPEG", quality=80)
    (root / "001_small.jpg").write_bytes(buffer.getvalue())
    (root / "001_again.png").write_bytes(imageio.encode_png(image, compress_level=1))  # same pixels, other bytes
    report = import_paths(ws, [root])
    assert report.near_duplicates == [("transistor/001_small.jpg", "transistor/001.png")]
    assert (report.added, report.duplicates) == (3, 1)
    assert "1 near duplicates imported" in report.summary()
    again = io.BytesIO()
    Image.fromarray(image).save(again, "JPEG", quality=70)
    later = import_uploads(ws, [("copy.jpg", again.getvalue())], class_name="transistor")  # against earlier items
    assert later.near_duplicates and later.near_duplicates[0][1] in {"transistor/001.png", "transistor/001_small.jpg"}


# -- issue 14, trap 2h: provenance (original name, license) for every imported item -----------------------

def test_license_file_beside_an_mvtec_category_is_recorded_for_every_item(ws, tmp_path):
    root = tmp_path / "mvtec_anomaly_detection"
    shutil.copytree(DEMO_DIR / "hazelnut", root / "hazelnut")
    shutil.copy(DEMO_DIR / "licenses/mvtec_license.txt", root / "license.txt")  # as in the MVTec AD download
    report = import_paths(ws, [root / "hazelnut"])
    items = ws.catalog.items()
    assert len(items) == 26
    for item in items:
        source = ws.catalog.provenance(item.id)
        assert source.license == "CC BY-NC-SA 4.0" and source.original_name.startswith("hazelnut/")
    assert ws.catalog.provenance(items[0].id).original_name == "hazelnut/train/good/000.png"
    assert {m.license for m in ws.catalog.bank_masks()} == {"CC BY-NC-SA 4.0"}
    assert "license CC BY-NC-SA 4.0 recorded for 26 images (read from hazelnut/../license.txt)" in report.summary()


def test_license_file_in_class_folders_given_license_wins_and_none_is_said(ws, tmp_path):
    root = tmp_path / "photos"
    for name, seed in (("screw", 30), ("nut", 31)):
        (root / name).mkdir(parents=True)
        (root / name / "a.png").write_bytes(png(seed))
    (root / "screw" / "LICENSE").write_text("\n  Creative Commons Attribution-ShareAlike 4.0 International\n")
    (root / "nut" / "COPYING.txt").write_text("Photos by the lab, internal use only.\n")
    import_paths(ws, [root])
    licenses = {ws.catalog.class_by_id(i.class_id).name: ws.catalog.provenance(i.id).license
                for i in ws.catalog.items()}
    assert licenses == {"screw": "CC BY-SA 4.0", "nut": "Photos by the lab, internal use only."}
    (root / "screw" / "b.png").write_bytes(png(32))
    import_paths(ws, [root / "screw" / "b.png"], license="MIT")
    item = ws.catalog.items()[-1]
    source = ws.catalog.provenance(item.id)
    assert (source.license, source.original_name) == ("MIT", "b.png")  # the given license beats the file
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "c.png").write_bytes(png(33))
    assert "1 images have no license" in import_paths(ws, [bare]).summary()


def test_zip_and_upload_items_keep_their_original_names(ws):
    import_zip(ws, make_zip({"data/screw/a.png": png(40), "data/LICENSE.md": b"# MIT License\n"}), name="lab.zip")
    import_uploads(ws, [("../../shots/b.png", png(41))], class_name="screw")
    names = {ws.catalog.provenance(i.id).original_name: ws.catalog.provenance(i.id).license
             for i in ws.catalog.items()}
    assert names == {"lab.zip/data/screw/a.png": "MIT", "b.png": None}


def test_dsaii_provenance_is_kept_and_hostile_entries_do_not_crash(ws, tmp_path):
    root = tmp_path / "dsaii" / "screw"
    (root / "normal").mkdir(parents=True)
    (root / "normal/000.png").write_bytes(png(50))
    (root / "normal/001.png").write_bytes(png(51))
    (root / "img_url.json").write_text(json.dumps([
        {"img_path": "./screw/normal/000.png", "url": "http://x/1.png", "license": "CC BY 2.0", "engine": "openverse"},
        {"img_path": "./screw/normal/001.png", "url": {"evil": 1}, "license": ["x"]}]))
    report = import_paths(ws, [tmp_path / "dsaii"], license="CC0 1.0")
    first, second = (ws.catalog.provenance(i.id) for i in ws.catalog.items())
    assert (first.source_url, first.license, first.engine) == ("http://x/1.png", "CC BY 2.0", "openverse")
    assert first.original_name == "dsaii/screw/normal/000.png"
    assert (second.source_url, second.license) == (None, "CC0 1.0") and not report.errors


def test_cli_import_records_the_license_given_and_names_near_duplicates(tmp_path):
    root = magnetic_tile_copy(tmp_path / "mt", per_class=2)
    photo = next((root / "MT_Free/Imgs").glob("*.jpg"))
    Image.open(photo).save(root / "MT_Free/Imgs/copy_q60.jpg", quality=60)
    run = lambda *args: subprocess.run([sys.executable, "-m", "dsaii_core", *map(str, args)],  # noqa: E731
                                       capture_output=True, text=True, timeout=300)
    assert run("init", tmp_path / "ws").returncode == 0
    result = run("import", tmp_path / "ws", root, "--class", "tile", "--license", "research use, cite Huang 2020")
    assert result.returncode == 0, result.stderr
    assert f"near duplicate: mt/MT_Free/Imgs/copy_q60.jpg nearly repeats mt/MT_Free/Imgs/{photo.name}" in result.stdout
    assert "4 masks beside their images were paired" in result.stdout
    ws = Workspace.open(tmp_path / "ws")
    assert {ws.catalog.provenance(i.id).license for i in ws.catalog.items()} == {"research use, cite Huang 2020"}
