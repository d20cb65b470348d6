import hashlib
import json

import numpy as np
import pytest

from dsaii_core import imageio
from dsaii_core.errors import DsaiiError
from dsaii_core.export import export_workspace, split_normals, zip_folder


def tree(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("layout", ["dsaii", "mvtec"])
def test_export_is_byte_identical_when_repeated(demo_ws, tmp_path, layout):
    export_workspace(demo_ws, tmp_path / "a", layout)
    first = tree(tmp_path / "a")
    export_workspace(demo_ws, tmp_path / "a", layout)
    export_workspace(demo_ws, tmp_path / "b", layout)
    assert tree(tmp_path / "a") == first == tree(tmp_path / "b")
    assert zip_folder(tmp_path / "a") == zip_folder(tmp_path / "a")


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
    assert set(manifest["files"]) == files - {"manifest.json"}
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


def test_bad_layout_and_ratio_are_user_errors(demo_ws, tmp_path):
    with pytest.raises(DsaiiError, match="layout"):
        export_workspace(demo_ws, tmp_path / "o", "coco")
    with pytest.raises(DsaiiError, match="test ratio"):
        export_workspace(demo_ws, tmp_path / "o", "mvtec", test_ratio=1.5)
