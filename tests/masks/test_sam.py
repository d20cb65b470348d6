"""SAM through the user path: a tiny random checkpoint loaded safely, automatic and prompted masks, refinement."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from dsaii_core.errors import DsaiiError
from dsaii_core.masks import sam
from dsaii_core.masks.sam import SamBackend
from dsaii_core.masks.sam_config import ENV_CHECKPOINT, ENV_MODEL, AutoParams, SamConfig
from dsaii_core.masks.select import Prompt, iou
from dsaii_core.workspace import Workspace
from tests.fixtures.object_reference import hazelnut
from tests.fixtures.tiny_sam import tiny_sam_checkpoint

FAST = AutoParams(points_per_side=4, pred_iou_thresh=0.0, stability_score_thresh=0.0)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return tiny_sam_checkpoint(tmp_path_factory.mktemp("sam") / "sam_tiny.pth")


@pytest.fixture
def backend(checkpoint, tmp_path) -> SamBackend:
    return SamBackend.load(SamConfig(checkpoint, "tiny", "cpu"), cache_dir=tmp_path / "embeddings")


def test_config_comes_from_flag_then_setting_then_environment(tmp_path, monkeypatch, checkpoint):
    ws = Workspace.create(tmp_path / "ws")
    monkeypatch.delenv(ENV_CHECKPOINT, raising=False)
    monkeypatch.delenv(ENV_MODEL, raising=False)
    assert SamConfig.resolve(ws.catalog) is None
    monkeypatch.setenv(ENV_CHECKPOINT, "/env/sam.pth")
    monkeypatch.setenv(ENV_MODEL, "vit_b")
    assert SamConfig.resolve(ws.catalog) == SamConfig(Path("/env/sam.pth"), "vit_b")
    SamConfig(checkpoint, "tiny").save(ws.catalog)
    assert SamConfig.resolve(ws.catalog) == SamConfig(checkpoint, "tiny")
    assert SamConfig.resolve(ws.catalog, checkpoint="/flag.pth", model_type="vit_h").checkpoint == Path("/flag.pth")
    with pytest.raises(DsaiiError, match="unknown SAM model type"):
        SamConfig.resolve(ws.catalog, model_type="vit_x")


def test_checkpoint_is_loaded_with_weights_only_and_its_architecture_inferred(checkpoint):
    model = sam.load_sam(SamConfig(checkpoint, None, "cpu"))
    assert model.image_encoder.img_size == 256
    saved = torch.load(checkpoint, weights_only=True)
    assert torch.equal(model.state_dict()["mask_decoder.iou_token.weight"], saved["mask_decoder.iou_token.weight"])


def test_pickled_code_in_a_checkpoint_is_refused(tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ("this would run on load",))

    evil = tmp_path / "evil.pth"
    torch.save({"image_encoder.pos_embed": Payload()}, evil)
    with pytest.raises(DsaiiError, match="not a usable SAM checkpoint"):
        sam.load_sam(SamConfig(evil))


def test_wrong_model_type_and_missing_file_give_clear_errors(checkpoint, tmp_path):
    with pytest.raises(DsaiiError, match="holds tiny weights, but model type vit_b"):
        sam.load_sam(SamConfig(checkpoint, "vit_b"))
    with pytest.raises(DsaiiError, match="not found"):
        sam.load_sam(SamConfig(tmp_path / "none.pth"))
    other = tmp_path / "other.pth"
    torch.save({"weight": torch.zeros(2)}, other)
    with pytest.raises(DsaiiError, match="does not hold SAM weights"):
        sam.load_sam(SamConfig(other))


def test_safetensors_checkpoint_loads_too(checkpoint, tmp_path):
    from safetensors.torch import save_file
    path = tmp_path / "sam_tiny.safetensors"
    save_file({k: v.contiguous() for k, v in torch.load(checkpoint, weights_only=True).items()}, str(path))
    assert sam.load_sam(SamConfig(path, "tiny", "cpu")).image_encoder.img_size == 256


def test_automatic_candidates_are_image_sized_masks_with_scores(backend):
    image, _ = hazelnut(0)
    candidates = backend.automatic(image, FAST)
    assert candidates, "thresholds at 0 keep every proposal"
    for candidate in candidates:
        assert candidate.mask.shape == image.shape[:2] and candidate.mask.dtype == bool
        assert candidate.source == "sam-auto" and 0 <= candidate.stability <= 1
        assert candidate.point is not None


def test_one_click_gives_three_proposals_best_first_and_embeddings_are_cached(backend, checkpoint, tmp_path):
    image, _ = hazelnut(1)
    first = backend.predict(image, Prompt(positive=[(128.0, 128.0)]))
    assert len(first) == 3 and first[0].predicted_iou >= first[1].predicted_iou >= first[2].predicted_iou
    backend.predict(image, Prompt(positive=[(60.0, 60.0)], negative=[(10.0, 10.0)], box=(20, 20, 230, 230)))
    assert backend.predictor.computed == 1  # the second prompt reused the embedding
    assert len(list((tmp_path / "embeddings").glob("*.npy"))) == 1
    fresh = SamBackend.load(SamConfig(checkpoint, "tiny", "cpu"), cache_dir=tmp_path / "embeddings")
    again = fresh.predict(image, Prompt(positive=[(128.0, 128.0)]))
    assert fresh.predictor.computed == 0  # read from the .npy file
    assert all(np.array_equal(a.mask, b.mask) for a, b in zip(first, again))


def test_mask_input_lines_up_with_the_image(backend):
    """The logits of a mask, upscaled the way SAM upscales its own, give the mask back."""
    image = np.zeros((180, 300, 3), np.uint8)  # not square: exercises the padding
    mask = np.zeros((180, 300), bool)
    mask[40:140, 90:230] = True
    backend.predictor.set_image(image)
    logits = backend.mask_input(mask)
    assert logits.shape == (1, 64, 64)  # 4 × the tiny model's 16×16 embedding (256×256 for real SAM)
    restored = backend.model.postprocess_masks(torch.from_numpy(logits)[None], backend.predictor.input_size,
                                               backend.predictor.original_size)[0, 0].numpy() > 0
    assert iou(restored, mask) > 0.9


def test_refine_feeds_the_current_mask_to_sam(backend):
    image, reference = hazelnut(2)
    plain = backend.predict(image, Prompt(positive=[(128.0, 128.0)], negative=[(5.0, 5.0)]))
    refined = backend.predict(image, Prompt(positive=[(128.0, 128.0)], negative=[(5.0, 5.0)]), mask=reference)
    assert len(refined) == 1 and refined[0].source == "sam-refine"
    assert not np.array_equal(refined[0].mask, plain[0].mask)  # the mask prompt changed the answer


def test_empty_prompt_is_refused(backend):
    image, _ = hazelnut(0)
    with pytest.raises(DsaiiError):
        backend.predict(image, Prompt())


def test_device_auto_picks_cpu_here_or_an_accelerator():
    from dsaii_core.devices import resolve_device
    assert resolve_device(None).type in ("cpu", "cuda", "mps")
    assert resolve_device("cpu").type == "cpu"
