"""PatchCore pieces against brute force, end to end with a random CNN loaded from a file, and the
weight-free baseline on real MVTec AD hazelnut defects."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

from dsaii_core import imageio
from dsaii_core.bench import metrics
from dsaii_core.bench.dataset import read_mvtec
from dsaii_core.bench.detectors import DetectorSpec, greedy_coreset, nearest_distances
from dsaii_core.demo import DEMO_DIR
from dsaii_core.errors import DsaiiError


def brute_force_greedy(points: np.ndarray, count: int, first: int) -> list[int]:
    chosen = [first]
    while len(chosen) < count:
        distance_to_set = np.min(np.linalg.norm(points[:, None] - points[chosen][None], axis=2), axis=1)
        chosen.append(int(np.argmax(distance_to_set)))
    return chosen


def covering_radius(points: np.ndarray, centres) -> float:
    return float(np.max(np.min(np.linalg.norm(points[:, None] - points[list(centres)][None], axis=2), axis=1)))


def test_coreset_is_the_greedy_k_center_and_within_twice_the_optimal_radius():
    points = np.random.default_rng(3).normal(size=(11, 5)).astype(np.float32)
    chosen = greedy_coreset(torch.from_numpy(points), 4, seed=7, projection_dim=None).tolist()
    assert chosen == brute_force_greedy(points.astype(np.float64), 4, chosen[0])
    optimal = min(covering_radius(points, c) for c in itertools.combinations(range(11), 4))
    assert covering_radius(points, chosen) <= 2 * optimal + 1e-6
    assert greedy_coreset(torch.from_numpy(points), 20).tolist() == list(range(11))


def test_coreset_with_random_projection_is_seeded_and_covers():
    features = torch.from_numpy(np.random.default_rng(0).normal(size=(300, 256)).astype(np.float32))
    first = greedy_coreset(features, 30, seed=1, projection_dim=32)
    assert torch.equal(first, greedy_coreset(features, 30, seed=1, projection_dim=32))
    assert len(set(first.tolist())) == 30
    random_subset = np.random.default_rng(1).choice(300, 30, replace=False)
    assert covering_radius(features.numpy(), first.tolist()) < covering_radius(features.numpy(), random_subset)


def test_nearest_distances_are_exact_in_chunks():
    rng = np.random.default_rng(5)
    queries, bank = rng.normal(size=(23, 6)), rng.normal(size=(17, 6))
    expected = np.min(np.linalg.norm(queries[:, None] - bank[None], axis=2), axis=1)
    got = nearest_distances(torch.from_numpy(queries).float(), torch.from_numpy(bank).float(),
                            query_chunk=7, bank_chunk=5).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.fixture(scope="module")
def random_resnet18(tmp_path_factory) -> tuple[Path, Path]:
    """A resnet18 with random weights, saved as a .pth state dict and as .safetensors."""
    from safetensors.torch import save_file
    torch.manual_seed(0)
    state = torchvision.models.resnet18(weights=None).state_dict()
    folder = tmp_path_factory.mktemp("weights")
    torch.save(state, folder / "resnet18.pth")
    save_file({k: v.contiguous() for k, v in state.items()}, str(folder / "resnet18.safetensors"))
    return folder / "resnet18.pth", folder / "resnet18.safetensors"


def tiny_images(seed: int, count: int, size: int = 48) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    base = np.full((size, size, 3), 120, np.uint8)
    return [np.clip(base + rng.integers(-10, 10, base.shape), 0, 255).astype(np.uint8) for _ in range(count)]


def test_patchcore_end_to_end_with_weights_loaded_by_path(random_resnet18):
    pth, safetensors = random_resnet18
    train, normal = tiny_images(0, 4), tiny_images(1, 1)[0]
    defective = normal.copy()
    defective[10:24, 10:24] = [250, 20, 20]
    runs = []
    for weights in (pth, safetensors):
        detector = DetectorSpec("patchcore", "resnet18", str(weights), image_size=64).build()
        detector.fit(train)
        runs.append(detector.predict([normal, defective, normal[:40]]))
    for (score, anomaly_map), shape in zip(runs[0], [(48, 48), (48, 48), (40, 48)]):
        assert anomaly_map.values.shape == (64, 64) and anomaly_map.shape == shape   # the detector's resolution
        full = anomaly_map.full()
        assert full.shape == shape and full.dtype == np.float32 and np.isfinite(full).all()
        assert score == pytest.approx(float(full.max()))
    assert runs[0][1][0] > runs[0][0][0]
    for (a_score, a_map), (b_score, b_map) in zip(*runs):
        assert a_score == b_score and np.array_equal(a_map.values, b_map.values)


def test_backbone_errors_are_clear(random_resnet18, tmp_path):
    pth, _ = random_resnet18
    with pytest.raises(DsaiiError, match="unknown torchvision architecture"):
        DetectorSpec("patchcore", "no_such_net", str(pth)).build()
    with pytest.raises(DsaiiError, match="no such weights file"):
        DetectorSpec("patchcore", "resnet18", str(tmp_path / "missing.pth")).build()
    with pytest.raises(DsaiiError, match="does not fit resnet34"):
        DetectorSpec("patchcore", "resnet34", str(pth)).build()
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(DsaiiError, match="cannot read weights"):
        DetectorSpec("patchcore", "resnet18", str(garbage)).build()
    with pytest.raises(DsaiiError, match="needs backbone weights"):
        DetectorSpec("patchcore", "resnet18").build()
    with pytest.raises(DsaiiError, match="unknown detector"):
        DetectorSpec("padim").build()


def test_weight_free_baseline_separates_real_hazelnut_defects_from_normals():
    split, = read_mvtec(DEMO_DIR, ["hazelnut"])
    detector = DetectorSpec("baseline").build()
    detector.fit([imageio.read_image(p) for p in split.train])
    images = [imageio.read_image(s.image) for s in split.test]
    predictions = detector.predict(images)
    labels = [s.label for s in split.test]
    assert 0 < sum(labels) < len(labels)
    assert metrics.image_auroc(labels, [score for score, _ in predictions]) >= 0.8
    masks = [s.read_mask(image.shape[:2]) for s, image in zip(split.test, images)]
    assert metrics.pixel_auroc(masks, [m.full() for _, m in predictions]) >= 0.85


def test_device_auto_takes_a_gpu_when_there_is_one(monkeypatch):
    from dsaii_core.bench.detectors import use_every_core
    from dsaii_core.devices import resolve_device
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert resolve_device("auto").type == "cpu"
    with pytest.raises(DsaiiError, match="no CUDA GPU"):
        resolve_device("cuda")
    with pytest.raises(DsaiiError, match="unknown device"):
        resolve_device("tpu-ish")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device("auto").type == "mps"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto").type == "cuda"
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    threads = torch.get_num_threads()
    try:
        import os
        assert use_every_core() == len(os.sched_getaffinity(0))
        monkeypatch.setenv("OMP_NUM_THREADS", "1")
        torch.set_num_threads(1)
        assert use_every_core() == 1        # a Ray worker keeps the threads it was given
    finally:
        torch.set_num_threads(threads)
