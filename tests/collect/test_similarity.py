import numpy as np
import pytest
import torch
import torchvision

from dsaii_core.collect.similarity import CnnEmbedder, Ranker, describe
from dsaii_core.errors import DsaiiError
from tests.fixtures.fake_web import real_images

IMAGES = real_images()


def test_weight_free_descriptor_is_unit_length_and_ranks_a_copy_first():
    vector = describe(IMAGES["coffee"])
    assert vector.dtype == np.float32 and abs(np.linalg.norm(vector) - 1) < 1e-5
    ranker = Ranker(IMAGES["chelsea"])
    scores = {name: ranker.score(image) for name, image in IMAGES.items()}
    smaller = ranker.score(IMAGES["chelsea"][::2, ::2].copy())
    assert smaller > 0.95 and max(v for k, v in scores.items() if k != "chelsea") < smaller


def test_textures_are_closer_to_textures_than_to_photos():
    ranker = Ranker(IMAGES["gravel"])
    assert ranker.score(IMAGES["grass"]) > ranker.score(IMAGES["rocket"])


def test_cnn_embedder_loads_a_local_checkpoint(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    embedder = CnnEmbedder(path, arch="resnet18")
    vector = embedder.describe(IMAGES["coffee"])
    assert vector.shape == (512,) and abs(np.linalg.norm(vector) - 1) < 1e-4
    ranker = Ranker(IMAGES["coffee"], embedder)
    assert ranker.score(IMAGES["coffee"]) == pytest.approx(1.0, abs=1e-4)


def test_cnn_embedder_explains_bad_checkpoints(tmp_path):
    with pytest.raises(DsaiiError, match="no such CNN checkpoint"):
        CnnEmbedder(tmp_path / "missing.pth")
    wrong = tmp_path / "wrong.pth"
    torch.save({"weight": torch.zeros(2)}, wrong)
    with pytest.raises(DsaiiError, match="not a resnet18 checkpoint"):
        CnnEmbedder(wrong)
