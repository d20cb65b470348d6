import hashlib
import json

import zipfile

import numpy as np
import pytest

from dsaii_core import imageio
from dsaii_core.errors import DsaiiError
from dsaii_core import export as export_module
from dsaii_core.export import MARKER, default_out, download_name, export_workspace, split_normals, zip_export
from dsaii_core.inpaint.generate import start_inpaint_job
from dsaii_core.jobs import run_job
from tests.fixtures.masked_ws import build_masked_ws


def tree(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("layout", ["dsaii", "mvtec"])
def test_export_is_byte_identical_when_repeated(demo_ws, tmp_path, layout):
    export_workspace(demo_ws, tmp_path / "a", layout)
    first = tree(tmp_path / "a")
    export_workspace(demo_ws, tmp_path / "a", layout)
    export_workspace(demo_ws, tmp_path / "b", layout)
    assert tree(tmp_path / "a") == first == tree(tmp_path / "b")
    zipped = zip_export(tmp_path / "a", tmp_path / "cache-1")
    assert zipped.read_bytes() == zip_export(tmp_path / "a", tmp_path / "cache-2").read_bytes()
    assert zip_export(tmp_path / "a", tmp_path / "cache-1") == zipped  # reused while the export is unchanged
    with zipfile.ZipFile(zipped) as archive:
        assert {n.removeprefix("a/"): archive.read(n) for n in archive.namelist()} == first


def test_dsaii_layout_pairs_anomalies_and_masks(demo_ws, tmp_path):
    report = export_workspace(demo_ws, tmp_path / "out", "dsaii")
    hazelnut = tmp_path / "out/hazelnut"
    anomalies = sorted((hazelnut / "anomaly").iterdir())
    masks = sorted((hazelnut / "mask").iterdir())
    assert [p.name for p in anomalies] == [p.name for p in masks] == [f"{i:03d}.png" for i in range(8)]
    for anomaly, mask in zip(anomalies, masks):
        array = imageio.read_mask(mask)
        assert array.shape == imageio.read_image(anomaly).shape[:2]
        assert set(np.unique(array)) <= {0, 255}
    urls = json.loads((hazelnut / "img_url.json").read_text())
    assert len(urls) == 18 and urls[0]["img_path"] == "./hazelnut/normal/000.png"
    assert urls[0]["license"] == "CC BY-NC-SA 4.0" and urls[0]["engine"] == "import"
    assert urls[0]["source_sha256"] == demo_ws.catalog.items(demo_ws.get_class("hazelnut").id, "normal")[0].sha256
    assert urls[0]["sha256"] == hashlib.sha256((hazelnut / "normal/000.png").read_bytes()).hexdigest()
    assert report.counts["hazelnut"] == {"normal": 18, "anomaly": 8}


def test_manifest_lists_every_file_with_its_hash(demo_ws, tmp_path):
    export_workspace(demo_ws, tmp_path / "out", "mvtec", seed=3, test_ratio=0.25)
    manifest = json.loads((tmp_path / "out/manifest.json").read_text())
    files = {p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*") if p.is_file()}
    assert set(manifest["files"]) == files - {"manifest.json", MARKER} and manifest["marker"] == MARKER
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((tmp_path / "out" / name).read_bytes()).hexdigest() == digest
    assert manifest["settings"] == {"seed": 3, "test_ratio": 0.25}
    assert manifest["classes"]["magnetic_tile"]["kind"] == "texture"


def test_mvtec_layout_has_the_folders_anomalib_expects(demo_ws, tmp_path):
    export_workspace(demo_ws, tmp_path / "out", "mvtec")
    root = tmp_path / "out/transistor"
    assert len(list((root / "train/good").glob("*.png"))) + len(list((root / "test/good").glob("*.png"))) == 14
    for image in (root / "test").glob("*/*.png"):
        if image.parent.name != "good":
            assert (root / "ground_truth" / image.parent.name / f"{image.stem}_mask.png").is_file()


def test_split_is_seeded_and_disjoint(demo_ws):
    normals = demo_ws.catalog.items(role="normal")
    train, test = split_normals(normals, "x", seed=1, test_ratio=0.3)
    again = split_normals(normals, "x", seed=1, test_ratio=0.3)
    other = split_normals(normals, "x", seed=2, test_ratio=0.3)
    assert (train, test) == again and test != other[1]
    assert not {i.id for i in train} & {i.id for i in test} and len(train) + len(test) == len(normals)


def test_only_kept_normals_and_accepted_anomalies_are_exported(demo_ws, tmp_path):
    cls = demo_ws.get_class("hazelnut")
    demo_ws.catalog.set_status([demo_ws.catalog.items(cls.id, "normal")[0].id], "dropped")
    demo_ws.catalog.set_status([demo_ws.catalog.items(cls.id, "anomaly")[0].id], "rejected")
    report = export_workspace(demo_ws, tmp_path / "out", "dsaii")
    assert report.counts["hazelnut"] == {"normal": 17, "anomaly": 7}


def test_export_refuses_to_overwrite_a_foreign_folder(demo_ws, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine/thesis.tex").write_text("precious")
    with pytest.raises(DsaiiError, match="not an earlier export"):
        export_workspace(demo_ws, tmp_path / "mine", "dsaii")
    assert (tmp_path / "mine/thesis.tex").read_text() == "precious"


def test_a_foreign_folder_with_a_manifest_survives_and_export_refuses_it(demo_ws, tmp_path):
    project = tmp_path / "web"
    (project / "src").mkdir(parents=True)
    (project / "manifest.json").write_text('{"name": "my-app"}')
    (project / "src/app.js").write_text("console.log('mine')")
    with pytest.raises(DsaiiError, match="not an earlier export") as error:
        export_workspace(demo_ws, project, "dsaii")
    assert "\n" not in str(error.value)
    assert (project / "src/app.js").read_text() == "console.log('mine')"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo-ws", "web"]  # no temp folder left


def test_every_export_carries_our_marker(demo_ws, tmp_path):
    export_workspace(demo_ws, tmp_path / "out", "mvtec")
    assert json.loads((tmp_path / "out" / MARKER).read_text()) == {"tool": "DSAII Studio", "version": "0.1.0",
                                                                   "layout": "mvtec"}


def test_an_empty_folder_becomes_the_export(demo_ws, tmp_path):
    (tmp_path / "empty").mkdir()
    export_workspace(demo_ws, tmp_path / "empty", "dsaii")
    assert (tmp_path / "empty/hazelnut/normal/000.png").is_file()


def test_an_earlier_export_is_replaced(demo_ws, tmp_path):
    export_workspace(demo_ws, tmp_path / "out", "mvtec")
    assert (tmp_path / "out/hazelnut/train/good").is_dir()
    cls = demo_ws.get_class("hazelnut")
    demo_ws.catalog.set_status([demo_ws.catalog.items(cls.id, "normal")[0].id], "dropped")
    export_workspace(demo_ws, tmp_path / "out", "dsaii")
    assert not (tmp_path / "out/hazelnut/train").exists() and len(list((tmp_path / "out/hazelnut/normal").iterdir())) == 17
    assert json.loads((tmp_path / "out/manifest.json").read_text())["layout"] == "dsaii"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo-ws", "out"]  # the old one moved aside is gone


def test_an_earlier_export_holding_files_of_someone_else_is_refused(demo_ws, tmp_path):
    export_workspace(demo_ws, tmp_path / "out", "dsaii")
    (tmp_path / "out/hazelnut/notes.txt").write_text("my results")
    with pytest.raises(DsaiiError, match="notes.txt"):
        export_workspace(demo_ws, tmp_path / "out", "dsaii")
    assert (tmp_path / "out/hazelnut/notes.txt").read_text() == "my results"


def test_a_failure_midway_leaves_the_earlier_export_intact(demo_ws, tmp_path, monkeypatch):
    export_workspace(demo_ws, tmp_path / "out", "dsaii")
    before = tree(tmp_path / "out")
    copy, calls = export_module._Writer.copy, []

    def failing_copy(self, *args):
        calls.append(args)
        if len(calls) == 20:
            raise OSError("disk full")
        return copy(self, *args)

    monkeypatch.setattr(export_module._Writer, "copy", failing_copy)
    with pytest.raises(OSError, match="disk full"):
        export_workspace(demo_ws, tmp_path / "out", "mvtec")
    assert tree(tmp_path / "out") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo-ws", "out"]


def test_a_failed_swap_puts_the_earlier_export_back(demo_ws, tmp_path, monkeypatch):
    export_workspace(demo_ws, tmp_path / "out", "dsaii")
    before = tree(tmp_path / "out")
    rename = export_module.os.rename

    def failing_rename(src, dst):
        if ".tmp-" in str(src):
            raise OSError("rename failed")
        rename(src, dst)

    monkeypatch.setattr(export_module.os, "rename", failing_rename)
    with pytest.raises(OSError, match="rename failed"):
        export_workspace(demo_ws, tmp_path / "out", "mvtec")
    assert tree(tmp_path / "out") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo-ws", "out"]


def test_export_refuses_a_folder_holding_the_workspace(demo_ws, tmp_path):
    with pytest.raises(DsaiiError, match="outside the workspace"):
        export_workspace(demo_ws, tmp_path, "dsaii")


def test_default_folders_and_download_names_differ_per_layout(demo_ws):
    assert default_out(demo_ws, "dsaii") != default_out(demo_ws, "mvtec")
    assert default_out(demo_ws, "mvtec").parent == demo_ws.root.parent
    assert download_name(demo_ws, "dsaii") == "demo-ws-dsaii.zip"


@pytest.fixture
def inpainted_ws(tmp_path):
    """hazelnut: 4 normals, each with an accepted weight-free inpainted anomaly, and one imported real defect."""
    ws = build_masked_ws(tmp_path / "ws", normals=4, size=96)
    run_job(ws, start_inpaint_job(ws, ws.classes(), "classical", seed=2).id)
    ws.catalog.set_status([i.id for i in ws.catalog.items(role="anomaly", statuses=("pending",))], "accepted")
    return ws


@pytest.mark.parametrize("layout", ["dsaii", "mvtec"])
def test_manifest_names_the_parent_normal_of_each_synthetic_anomaly(inpainted_ws, tmp_path, layout):
    export_workspace(inpainted_ws, tmp_path / "out", layout, test_ratio=0.5)
    manifest = json.loads((tmp_path / "out/manifest.json").read_text())
    assert len(manifest["parents"]) == 4  # the imported real defect has no parent
    for anomaly, normal in manifest["parents"].items():
        assert anomaly in manifest["files"] and normal in manifest["files"]
        changed = np.abs(imageio.read_image(tmp_path / "out" / anomaly).astype(int)
                         - imageio.read_image(tmp_path / "out" / normal)).max(axis=2) > 0
        assert changed.any() and changed.mean() < 0.2


def test_two_accepted_anomalies_for_one_mask_export_only_the_latest(inpainted_ws, tmp_path):
    ws = inpainted_ws
    first = [i for i in ws.catalog.items(role="anomaly") if i.parent_id is not None][0]
    again = ws.add_image(ws.get_class("hazelnut"), ws.read_image(first)[::-1].copy(), role="anomaly",
                         status="accepted", origin=first.origin, parent_id=first.parent_id).item
    ws.catalog.set_item_fields(again.id, mask_id=first.mask_id)
    report = export_workspace(ws, tmp_path / "out", "dsaii")
    assert report.counts["hazelnut"]["anomaly"] == 5
    assert any(f"#{first.id} and #{again.id}" in w and "only the latest" in w for w in report.warnings)
    exported = {hashlib.sha256(p.read_bytes()).hexdigest() for p in (tmp_path / "out/hazelnut/anomaly").iterdir()}
    assert again.sha256 in exported and first.sha256 not in exported


def test_img_url_entries_carry_the_original_file_name(demo_ws, tmp_path):
    export_workspace(demo_ws, tmp_path / "out", "dsaii")
    urls = json.loads((tmp_path / "out/hazelnut/img_url.json").read_text())
    assert all("original_name" in entry for entry in urls)


def test_bad_layout_and_ratio_are_user_errors(demo_ws, tmp_path):
    with pytest.raises(DsaiiError, match="layout"):
        export_workspace(demo_ws, tmp_path / "o", "coco")
    with pytest.raises(DsaiiError, match="test ratio"):
        export_workspace(demo_ws, tmp_path / "o", "mvtec", test_ratio=1.5)


def test_defect_names_that_differ_only_by_case_share_one_folder(demo_ws, tmp_path):
    """'Crack' and 'crack' would be one folder on a case-insensitive disk: the export makes them one everywhere."""
    cls = demo_ws.get_class("hazelnut")
    real = [a for a in demo_ws.catalog.items(cls.id, "anomaly", ("accepted",)) if a.defect == "crack"]
    demo_ws.catalog.set_item_fields(real[0].id, defect="Crack")
    export_workspace(demo_ws, tmp_path / "out", "mvtec")
    folders = [p.name for p in (tmp_path / "out/hazelnut/test").iterdir()]
    assert len({f.casefold() for f in folders}) == len(folders)
    crack = next(p for p in (tmp_path / "out/hazelnut/test").iterdir() if p.name.casefold() == "crack")
    assert len(list(crack.glob("*.png"))) == len(real)
