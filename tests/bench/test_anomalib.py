"""anomalib's models as detectors: trained offline on a tiny export with random backbone weights saved to a file,
stored like any run; our metrics equal anomalib's on its own predictions; its Patchcore agrees with ours."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision
from scipy.stats import spearmanr

pytest.importorskip("anomalib")   # the optional extra (requirements-anomalib.txt); `make test` installs it

from dsaii_core.bench import anomalib_detector, map_store, metrics  # noqa: E402
from dsaii_core.bench.dataset import read_mvtec  # noqa: E402
from dsaii_core.bench.detectors import detector_spec  # noqa: E402
from dsaii_core.bench.runs import metrics_frame, run_detector  # noqa: E402
from dsaii_core.errors import DsaiiError  # noqa: E402
from dsaii_core.export import export_workspace  # noqa: E402
from tests.fixtures.bench_data import build_origins_workspace, copy_workspace, unit_scaled  # noqa: E402


@pytest.fixture(scope="module")
def origins_template(tmp_path_factory):
    """hazelnut at 128²: 14 train normals; test: 4 normals, 8 real and 6 synthetic anomalies."""
    return build_origins_workspace(tmp_path_factory.mktemp("origins") / "ws", size=128)


@pytest.fixture(scope="module")
def export(origins_template, tmp_path_factory):
    from dsaii_core.workspace import Workspace
    out = tmp_path_factory.mktemp("export") / "mvtec"
    export_workspace(Workspace.open(origins_template), out, "mvtec", seed=0)
    split, = read_mvtec(out)
    return split


@pytest.fixture(scope="module")
def resnet18_file(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "resnet18-random.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    return path


def test_anomalib_models_run_offline_and_are_stored_like_any_run(origins_template, resnet18_file, tmp_path):
    """Padim and SuperSimpleNet, one epoch each, in a workspace run; maps at the model's 128², metrics on real and
    synthetic anomalies apart."""
    ws = copy_workspace(origins_template, tmp_path / "ws")
    for model in ("Padim", "Supersimplenet"):
        spec = detector_spec(f"anomalib:{model}", backbone="resnet18", weights=resnet18_file, image_size=128,
                             epochs=1, device="cpu")
        report = run_detector(ws.root, spec, name=model.lower())
        result, = report.classes
        assert report.detector == f"anomalib:{model}" and report.settings["library"] == "anomalib"
        assert "in " in result.notes[0] and "on cpu" in result.notes[0]
        assert 0 <= result.metrics["image_auroc"] <= 1 and 0 <= result.metrics["pixel_auroc"] <= 1
        assert {"image_auroc@real", "image_auroc@synthetic", "aupro@synthetic"} <= set(result.metrics)
        stored = map_store.read_class(report.maps_dir, result.folder)
        assert len(stored) == 18 and all(m.values.shape == (128, 128) for m in stored.values())
    frame = metrics_frame(ws)
    assert set(frame["detector"]) == {"anomalib:Padim", "anomalib:Supersimplenet"}
    assert set(frame["anomalies"]) == {"all", "real", "synthetic"}


def test_efficientad_takes_its_teacher_and_penalty_images_from_local_files(export, tmp_path):
    import cv2
    from anomalib.models.image.efficient_ad.torch_model import EfficientAdModel
    torch.manual_seed(0)
    teacher = tmp_path / "pretrained_teacher_small.pth"
    torch.save(EfficientAdModel(teacher_out_channels=384, model_size="small").teacher.state_dict(), teacher)
    penalty = tmp_path / "imagenette" / "n01440764"
    penalty.mkdir(parents=True)
    for index in range(2):
        cv2.imwrite(str(penalty / f"{index}.png"), np.random.default_rng(index).integers(0, 255, (64, 64, 3), np.uint8))
    spec = detector_spec("anomalib:EfficientAd", weights=teacher, imagenet_dir=penalty.parent, epochs=1, device="cpu")
    assert spec.image_size == 256
    predictions = spec.build().score_class(export, export.train[:2])
    assert set(predictions) == {s.key for s in export.test}
    score, anomaly_map = predictions[export.test[0].key]
    assert np.isfinite(score) and anomaly_map.values.shape == (256, 256) and anomaly_map.shape == (128, 128)
    with pytest.raises(DsaiiError, match="penalty images"):
        detector_spec("anomalib:EfficientAd", weights=teacher, epochs=1, device="cpu").build().score_class(export,
                                                                                            export.train)


@pytest.mark.parametrize("model", ["Patchcore", "Padim"])
def test_our_metrics_on_anomalib_predictions_equal_anomalibs_own(export, resnet18_file, model):
    """anomalib's metrics get the scores min-max scaled to [0, 1], as its pipeline normalises them: torchmetrics takes
    scores outside [0, 1] for logits, and its sigmoid ties Padim's large distances at 1.0 in float32."""
    from anomalib.metrics import AUROC, F1Max
    detector = detector_spec(f"anomalib:{model}", backbone="resnet18", weights=resnet18_file, image_size=128,
                             device="cpu").build()
    batches = detector.train_and_predict(export, export.train[:4])
    scores = torch.cat([b.pred_score.reshape(-1) for b in batches]).numpy()
    labels = torch.cat([b.gt_label.reshape(-1) for b in batches]).numpy().astype(int)
    maps = torch.cat([b.anomaly_map.reshape(-1, 128, 128) for b in batches]).numpy()
    masks = torch.cat([b.gt_mask.reshape(-1, 128, 128) for b in batches]).numpy()
    ours = {"image_auroc": metrics.image_auroc(labels, scores), "f1_max": metrics.f1_max(labels, scores),
            "pixel_auroc": metrics.pixel_auroc(masks, maps)}
    theirs = {"image_auroc": AUROC(fields=["pred_score", "gt_label"]),
              "f1_max": F1Max(fields=["pred_score", "gt_label"]),
              "pixel_auroc": AUROC(fields=["anomaly_map", "gt_mask"])}
    for batch in unit_scaled(batches):
        for metric in theirs.values():
            metric.update(batch)
    for name, metric in theirs.items():
        assert ours[name] == pytest.approx(float(metric.compute()), abs=1e-6), name


def test_builtin_patchcore_and_anomalibs_agree_given_the_same_weights(export, resnet18_file):
    """Same backbone file, layers 2+3, 128 px, coreset 10 %. They differ by design in the coreset draw, the padding
    of the 3×3 average at the border, the resize and the image score (max of the blurred map against anomalib's
    re-weighted nearest-patch distance), so their scores differ a little and a close pair may swap: on this test
    set (4 normals × 14 anomalies = 56 pairs) we allow 3 swapped pairs (0.054 AUROC) and ask the scores to rank the
    images alike (Spearman ≥ 0.9). benchmarks/bench_anomalib.py measures it on a larger set."""
    labels = [s.label for s in export.test]
    scores = {}
    for name in ("patchcore", "anomalib:Patchcore"):
        spec = detector_spec(name, backbone="resnet18", weights=resnet18_file, layers="layer2,layer3", image_size=128,
                             device="cpu")
        predictions = spec.build().score_class(export, export.train)
        scores[name] = [predictions[s.key][0] for s in export.test]
    ours, theirs = (metrics.image_auroc(labels, scores[n]) for n in ("patchcore", "anomalib:Patchcore"))
    assert abs(ours - theirs) <= 3 / 56 + 1e-9, (ours, theirs)
    assert spearmanr(scores["patchcore"], scores["anomalib:Patchcore"]).correlation >= 0.9


def test_what_anomalib_runs_need_is_said_before_they_start(resnet18_file, tmp_path, monkeypatch, bench_ws):
    with pytest.raises(DsaiiError, match="needs weights from a local file"):
        detector_spec("anomalib:Patchcore").build()
    with pytest.raises(DsaiiError, match="no such weights file"):
        detector_spec("anomalib:Patchcore", weights=tmp_path / "missing.pth").build()
    with pytest.raises(DsaiiError, match="name one of anomalib's models"):
        detector_spec("anomalib:", weights=resnet18_file).build()
    with pytest.raises(DsaiiError, match="trains a network: say for how many epochs"):
        detector_spec("anomalib:Stfpm", weights=resnet18_file).build()
    assert detector_spec("anomalib:Supersimplenet", weights=resnet18_file).build().settings["epochs"] == 300
    with pytest.raises(DsaiiError, match="at least 256 px"):
        detector_spec("anomalib:EfficientAd", weights=resnet18_file, image_size=128, epochs=1).build()
    from dsaii_core.bench.anomalib_engine import build_model
    with pytest.raises(DsaiiError, match="anomalib has no model 'Nope'"):
        build_model("Nope", backbone=None, layers=None, weights=resnet18_file, image_size=64, imagenet_dir=None)
    with pytest.raises(DsaiiError, match="wants to download"):   # Cfa fetches torchvision weights itself
        build_model("Cfa", backbone="resnet18", layers=None, weights=resnet18_file, image_size=64, imagenet_dir=None)
    with pytest.raises(DsaiiError, match="does not fit resnet34"):
        build_model("Padim", backbone="resnet34", layers=None, weights=resnet18_file, image_size=64,
                    imagenet_dir=None)
    monkeypatch.setattr(anomalib_detector, "installed", lambda: False)
    with pytest.raises(DsaiiError, match="pip install -r requirements-anomalib.txt"):
        detector_spec("anomalib:Patchcore", weights=resnet18_file).build()
