"""validate: our exports pass clean; every planted flaw is named with its file; the CLI's exit codes and --json."""

import io
import json
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest
from PIL import Image

from dsaii_core import imageio
from dsaii_core import validate as validate_module
from dsaii_core.demo import DEMO_DIR
from dsaii_core.errors import DsaiiError
from dsaii_core.export import MARKER, export_workspace
from dsaii_core.inpaint.generate import start_inpaint_job
from dsaii_core.jobs import run_job
from dsaii_core.validate import Problem, detect_layout, validate
from tests.fixtures.masked_ws import build_masked_ws


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """Our DSAII and MVTec exports of a workspace after the weight-free pipeline (do not modify: copy them).

    hazelnut: 6 licensed real normals at 128 px, each with an accepted weight-free inpainted anomaly, and one
    imported real crack defect.
    """
    root = tmp_path_factory.mktemp("validate")
    ws = build_masked_ws(root / "ws", normals=6, size=128)
    for item in ws.catalog.items(role="normal"):
        ws.catalog.set_provenance(item.id, license="CC BY-NC-SA 4.0", engine="import")
    run_job(ws, start_inpaint_job(ws, ws.classes(), "classical", seed=2).id)
    ws.catalog.set_status([i.id for i in ws.catalog.items(role="anomaly", statuses=("pending",))], "accepted")
    export_workspace(ws, root / "dsaii", "dsaii")
    export_workspace(ws, root / "mvtec", "mvtec", test_ratio=0.5)
    ws.catalog.close()
    return root


@pytest.fixture
def dsaii(exports, tmp_path):
    shutil.copytree(exports / "dsaii", tmp_path / "dsaii")
    return tmp_path / "dsaii"


@pytest.fixture
def mvtec(exports, tmp_path):
    shutil.copytree(exports / "mvtec", tmp_path / "mvtec")
    return tmp_path / "mvtec"


def foreign(folder):
    """The same folder as someone else's: no marker, no manifest (parents found by nearest normal)."""
    (folder / MARKER).unlink()
    (folder / "manifest.json").unlink()
    return folder


def parents(folder):
    return json.loads((folder / "manifest.json").read_text())["parents"]


def found(report, path, kind):
    return [p for p in report.problems if p.path == path and p.kind == kind]


def write_png(path, array):
    path.write_bytes(imageio.encode_png(np.ascontiguousarray(array)))


# -- clean ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("layout", ["dsaii", "mvtec"])
def test_our_export_after_the_weight_free_pipeline_passes_clean(exports, layout):
    report = validate(exports / layout)
    assert report.layout == layout and report.clean, report.lines()
    assert report.counts == {"classes": 1, "normal": 6, "anomaly": 7, "mask": 7}
    assert len(parents(exports / layout)) == 6  # the near copies of their parents are not findings


def test_our_export_of_the_demo_passes_clean(demo_ws, tmp_path):
    for layout in ("dsaii", "mvtec"):
        export_workspace(demo_ws, tmp_path / layout, layout)
        report = validate(tmp_path / layout)
        assert report.clean, report.lines()


def test_an_mvtec_class_folder_of_real_photos_passes_clean():
    report = validate(DEMO_DIR / "transistor")  # aligned shots of different transistors are no near duplicates
    assert report.layout == "mvtec" and report.clean, report.lines()


def test_real_soft_masks_are_named_not_binary():
    report = validate(DEMO_DIR / "magnetic_tile")
    assert report.problems and {p.kind for p in report.problems} == {"mask"}
    assert all(p.path.startswith("magnetic_tile/ground_truth/") and "not binary" in p.what for p in report.problems)


# -- planted flaws --------------------------------------------------------------------------------
def test_a_removed_mask_is_named_on_its_anomaly(dsaii):
    (dsaii / "hazelnut/mask/002.png").unlink()
    report = validate(dsaii)
    assert found(report, "hazelnut/anomaly/002.png", "pairing")
    assert found(report, "hazelnut/mask/002.png", "manifest")  # our manifest still lists it


def test_a_mask_without_anomaly_is_named(mvtec):
    anomaly = next(iter(parents(mvtec)))
    (mvtec / anomaly).unlink()
    defect = anomaly.split("/")[2]
    report = validate(foreign(mvtec))
    assert [p.what for p in report.problems] == ["mask without an anomaly image"]
    assert report.problems[0].path == f"hazelnut/ground_truth/{defect}/{anomaly.rsplit('/', 1)[1][:-4]}_mask.png"


def test_a_mask_not_binary_is_named(dsaii):
    mask = imageio.read_mask(dsaii / "hazelnut/mask/001.png")
    write_png(dsaii / "hazelnut/mask/001.png", cv2.GaussianBlur(mask, (5, 5), 0))
    report = validate(foreign(dsaii))
    assert [(p.path, p.kind) for p in report.problems] == [("hazelnut/mask/001.png", "mask")]
    assert "not binary" in report.problems[0].what


def test_a_mask_of_another_size_is_named(dsaii):
    mask = imageio.read_mask(dsaii / "hazelnut/mask/003.png")
    write_png(dsaii / "hazelnut/mask/003.png", cv2.resize(mask, (64, 64), interpolation=cv2.INTER_NEAREST))
    report = validate(foreign(dsaii))
    assert [p.line() for p in report.problems] == [
        "hazelnut/mask/003.png: mask is 64×64 but its image hazelnut/anomaly/003.png is 128×128"]


def test_an_empty_mask_is_named(dsaii):
    write_png(dsaii / "hazelnut/mask/003.png", np.zeros((128, 128), np.uint8))
    assert found(validate(dsaii), "hazelnut/mask/003.png", "mask")


@pytest.mark.parametrize("ours", [True, False])
def test_an_anomaly_identical_to_its_normal_is_named(dsaii, ours):
    anomaly, normal = next(iter(parents(dsaii).items()))
    shutil.copyfile(dsaii / normal, dsaii / anomaly)
    report = validate(dsaii if ours else foreign(dsaii))
    problems = found(report, anomaly, "no_change")
    assert len(problems) == 1 and normal in problems[0].what


def test_an_anomaly_changed_below_the_threshold_is_named(dsaii):
    anomaly, normal = next(iter(parents(dsaii).items()))
    faint = imageio.read_image(dsaii / normal).astype(np.int16)
    mask = imageio.read_mask(dsaii / anomaly.replace("anomaly/", "mask/")) > 0
    faint[mask] += 2
    write_png(dsaii / anomaly, np.clip(faint, 0, 255).astype(np.uint8))
    problems = found(validate(foreign(dsaii)), anomaly, "no_change")
    assert len(problems) == 1 and "no visible change" in problems[0].what


@pytest.mark.parametrize("ours", [True, False])
def test_a_change_outside_the_mask_is_named(dsaii, ours):
    anomaly, normal = next(iter(parents(dsaii).items()))
    image = imageio.read_image(dsaii / anomaly)
    mask = imageio.read_mask(dsaii / anomaly.replace("anomaly/", "mask/"))
    far = cv2.dilate(mask, np.ones((21, 21), np.uint8)) == 0
    rows, cols = np.nonzero(far)
    image[rows[:40], cols[:40]] = 255 - image[rows[:40], cols[:40]] // 2
    write_png(dsaii / anomaly, image)
    report = validate(dsaii if ours else foreign(dsaii))
    problems = found(report, anomaly, "outside_mask")
    assert len(problems) == 1 and problems[0].what.startswith("40 px") and normal in problems[0].what
    assert "3 px feather" in problems[0].what


def test_a_change_inside_the_feather_is_not_a_finding(dsaii):
    anomaly, _ = next(iter(parents(dsaii).items()))
    image = imageio.read_image(dsaii / anomaly)
    mask = imageio.read_mask(dsaii / anomaly.replace("anomaly/", "mask/"))
    edge = (cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))) > 0) & (mask == 0)
    image[edge] = 255 - image[edge]
    write_png(dsaii / anomaly, image)
    assert not found(validate(dsaii), anomaly, "outside_mask")


def test_a_duplicate_normal_is_named(dsaii):
    shutil.copyfile(dsaii / "hazelnut/normal/001.png", dsaii / "hazelnut/normal/099.png")
    report = validate(foreign(dsaii))
    assert [p.line() for p in found(report, "hazelnut/normal/099.png", "duplicate")] == [
        "hazelnut/normal/099.png: exact duplicate of hazelnut/normal/001.png"]


def test_an_exact_duplicate_across_classes_is_named(dsaii):
    shutil.copytree(dsaii / "hazelnut", dsaii / "walnut")
    report = validate(foreign(dsaii))
    duplicates = [p for p in report.problems if p.kind == "duplicate"]
    assert len(duplicates) == 13 and all(p.path.startswith("walnut/") for p in duplicates)


def test_a_near_duplicate_between_train_and_test_is_named_as_leakage(mvtec):
    train = sorted((mvtec / "hazelnut/train/good").iterdir())[0]
    buffer = io.BytesIO()
    Image.fromarray(imageio.read_image(train)).save(buffer, "JPEG", quality=85)
    (mvtec / "hazelnut/test/good/099.jpg").write_bytes(buffer.getvalue())
    report = validate(mvtec)
    problems = found(report, "hazelnut/test/good/099.jpg", "leakage")
    assert len(problems) == 1 and f"hazelnut/train/good/{train.name}" in problems[0].what


def test_a_near_duplicate_normal_is_named(dsaii):
    image = imageio.read_image(dsaii / "hazelnut/normal/000.png")
    write_png(dsaii / "hazelnut/normal/099.png", cv2.resize(cv2.resize(image, (100, 100)), (128, 128)))
    assert found(validate(foreign(dsaii)), "hazelnut/normal/099.png", "near_duplicate")


def test_blank_and_constant_images_are_named(dsaii):
    write_png(dsaii / "hazelnut/normal/000.png", np.full((128, 128, 3), 128, np.uint8))
    noise = np.random.default_rng(0).integers(0, 3, (128, 128, 3))
    write_png(dsaii / "hazelnut/normal/001.png", (200 + noise).astype(np.uint8))
    report = validate(dsaii)
    assert "constant" in found(report, "hazelnut/normal/000.png", "blank")[0].what
    assert "blank" in found(report, "hazelnut/normal/001.png", "blank")[0].what


def test_a_truncated_png_is_named(dsaii):
    data = (dsaii / "hazelnut/normal/004.png").read_bytes()
    (dsaii / "hazelnut/normal/004.png").write_bytes(data[: len(data) // 2])
    report = validate(dsaii)
    problems = found(report, "hazelnut/normal/004.png", "unreadable")
    assert len(problems) == 1 and "truncated" in problems[0].what


def test_img_url_entries_without_license_or_file_are_named(dsaii):
    urls = json.loads((dsaii / "hazelnut/img_url.json").read_text())
    urls[1]["license"] = None
    urls.append({"img_path": "./hazelnut/normal/050.png", "url": "https://example.com/x.png", "license": "CC0"})
    (dsaii / "hazelnut/img_url.json").write_text(json.dumps(urls))
    report = validate(foreign(dsaii))
    assert sorted(p.line() for p in report.problems) == [
        "hazelnut/img_url.json: entry ./hazelnut/normal/050.png: no such file",
        "hazelnut/normal/001.png: img_url.json entry has no license"]


def test_a_file_changed_after_our_export_is_named(dsaii):
    image = imageio.read_image(dsaii / "hazelnut/normal/000.png")
    write_png(dsaii / "hazelnut/normal/000.png", image[:, ::-1])
    report = validate(dsaii)
    assert "manifest sha256" in found(report, "hazelnut/normal/000.png", "manifest")[0].what


# -- layouts, pool, CLI ---------------------------------------------------------------------------
def test_the_layout_is_detected(exports, tmp_path):
    assert detect_layout(foreign(shutil.copytree(exports / "dsaii", tmp_path / "d"))) == "dsaii"
    assert detect_layout(DEMO_DIR) == "mvtec"
    (tmp_path / "web/src").mkdir(parents=True)
    with pytest.raises(DsaiiError, match="no DSAII"):
        validate(tmp_path / "web")


def test_the_process_pool_finds_what_one_process_finds(dsaii, monkeypatch):
    shutil.copytree(dsaii / "hazelnut", dsaii / "walnut")
    (dsaii / "walnut/mask/001.png").unlink()
    serial = validate(foreign(dsaii), workers=1)
    monkeypatch.setattr(validate_module, "SERIAL_BELOW", 0)
    fractions = []
    pooled = validate(dsaii, workers=2, progress=fractions.append)
    # 13 copied images, 6 walnut normals that walnut's img_url.json (listing hazelnut's) misses, 1 missing mask
    assert pooled.problems == serial.problems and len(serial.problems) == 20
    assert fractions[-1] == pytest.approx(1.0)


def cli(*args):
    return subprocess.run([sys.executable, "-m", "dsaii_core", "validate", *map(str, args)], capture_output=True,
                          text=True, timeout=300)


def test_cli_exits_0_when_clean_and_1_with_one_line_per_problem(exports, dsaii):
    clean = cli(exports / "dsaii")
    assert clean.returncode == 0 and clean.stdout == "" and "clean" in clean.stderr
    (dsaii / "hazelnut/mask/002.png").unlink()
    shutil.copyfile(dsaii / "hazelnut/normal/001.png", dsaii / "hazelnut/normal/000.png")
    flawed = cli(dsaii, "--layout", "dsaii")
    assert flawed.returncode == 1
    lines = flawed.stdout.splitlines()
    assert all(len(line.split(": ", 1)[0].split("/")) == 3 for line in lines)  # <class>/<folder>/<file>: <what>
    assert {"hazelnut/anomaly/002.png: anomaly without a mask in hazelnut/mask",
            "hazelnut/mask/002.png: listed in manifest.json but missing",
            "hazelnut/normal/000.png: differs from the file the export wrote (manifest sha256)",
            "hazelnut/normal/001.png: exact duplicate of hazelnut/normal/000.png"} < set(lines)
    # the anomaly made from the overwritten normal now differs from it outside its mask
    parent_of = {n: a for a, n in parents(dsaii).items()}
    assert any(line.startswith(f"{parent_of['hazelnut/normal/000.png']}: ") and "outside the mask" in line
               for line in lines)


def test_cli_json_is_the_report_for_scripts(dsaii):
    (dsaii / "hazelnut/mask/002.png").unlink()
    result = cli(foreign(dsaii), "--json")
    report = json.loads(result.stdout)
    assert result.returncode == 1 and report["clean"] is False and report["layout"] == "dsaii"
    assert [Problem(**p) for p in report["problems"]] == [
        Problem("hazelnut/anomaly/002.png", "anomaly without a mask in hazelnut/mask", "pairing")]
    assert report["settings"]["feather_px"] == 3


def test_cli_names_a_missing_folder_on_one_line(tmp_path):
    result = cli(tmp_path / "nowhere")
    assert result.returncode == 1 and result.stderr.strip() == f"error: {tmp_path / 'nowhere'}: no such folder"


def test_an_export_with_a_class_named_like_a_layout_folder_is_a_root_of_classes(tiny_ws, tmp_path):
    cls = tiny_ws.add_class("train")
    tiny_ws.add_image(cls, np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    for item in tiny_ws.catalog.items(role="normal"):
        tiny_ws.catalog.set_provenance(item.id, license="CC0")
    export_workspace(tiny_ws, tmp_path / "out", "dsaii")
    report = validate(tmp_path / "out")
    assert report.layout == "dsaii" and report.counts["classes"] == 2 and report.clean, report.lines()


def test_validate_knows_the_names_export_writes():
    from dsaii_core import export
    from dsaii_core.validate import layout
    assert (layout.MANIFEST, layout.MARKER) == (export.MANIFEST, export.MARKER)
