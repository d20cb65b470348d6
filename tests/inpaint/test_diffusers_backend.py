"""The diffusers backend on a tiny random SD inpainting pipeline, loaded from disk like a user's model."""

import cv2
import numpy as np
import pytest
import torch

from dsaii_core.errors import DsaiiError
from dsaii_core.inpaint.base import InpaintFailed, InpaintParams, InpaintRequest
from dsaii_core.inpaint.diffusers_backend import DiffusersBackend, load_pipeline
from tests.fixtures.tiny_inpaint import build_tiny_inpaint_pipeline

PARAMS = InpaintParams(steps=1, strength=1.0, guidance=1.0, dilate_px=4)  # no CFG: one UNet pass


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-sd")
    build_tiny_inpaint_pipeline(folder)
    return folder / "model"


@pytest.fixture(scope="module")
def backend(model_dir):
    return DiffusersBackend(model_dir)


def _pair(shape=(150, 220)):
    rng = np.random.default_rng(0)
    image = cv2.GaussianBlur(rng.integers(0, 256, (*shape, 3), dtype=np.uint8), (0, 0), 3)
    mask = np.zeros(shape, np.uint8)
    cv2.circle(mask, (150, 60), 14, 255, -1)
    return image, mask


def test_a_local_folder_loads_offline_and_inpaints_only_inside_the_mask(backend, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    image, mask = _pair()
    out = backend.inpaint(image, mask, "broken, cracked", "", 3, PARAMS)
    assert backend.native_size(PARAMS) == 64  # sample_size 32 × VAE factor 2
    assert out.shape == image.shape and out.dtype == np.uint8
    assert np.array_equal(out[mask == 0], image[mask == 0])  # every changed pixel lies inside the mask
    assert np.abs(out[mask > 0].astype(int) - image[mask > 0]).mean() > 5


def test_same_seed_same_result_and_batches_keep_their_order(backend):
    image, mask = _pair()
    first = backend.inpaint(image, mask, "broken", "", 11, PARAMS)
    assert np.array_equal(first, backend.inpaint(image, mask, "broken", "", 11, PARAMS))
    results = backend.inpaint_batch([InpaintRequest(image, mask, "broken", "", 11),
                                     InpaintRequest(image, np.zeros_like(mask), "broken", "", 12)],
                                    PARAMS.replace(batch_size=2))
    assert isinstance(results[1], InpaintFailed)  # an empty mask fails its own request only
    assert np.abs(results[0].astype(int) - first).max() <= 2


def test_a_scheduler_can_be_chosen_by_name(backend):
    image, mask = _pair()
    backend.inpaint(image, mask, "holes", "", 1, PARAMS.replace(scheduler="euler"))
    assert type(backend.pipeline(PARAMS.replace(scheduler="euler")).scheduler).__name__ == "EulerDiscreteScheduler"
    assert type(backend.pipeline(PARAMS).scheduler).__name__ == "DDIMScheduler"
    with pytest.raises(DsaiiError, match="unknown scheduler"):
        backend.inpaint(image, mask, "holes", "", 1, PARAMS.replace(scheduler="nope"))


def test_a_black_image_counts_as_a_failure(model_dir):
    pipeline = load_pipeline(model_dir)
    with torch.no_grad():  # a decoder that outputs -1 everywhere: what a safety checker's blank looks like
        pipeline.vae.decoder.conv_out.weight.zero_()
        pipeline.vae.decoder.conv_out.bias.fill_(-10.0)
    image, mask = _pair()
    with pytest.raises(InpaintFailed, match="black image"):
        DiffusersBackend(model_dir, pipeline=pipeline).inpaint(image, mask, "broken", "", 0, PARAMS)


def test_unusable_model_paths_give_clear_errors(tmp_path):
    with pytest.raises(DsaiiError, match="no such model"):
        load_pipeline(tmp_path / "missing")
    with pytest.raises(DsaiiError, match="no model_index.json"):
        load_pipeline(tmp_path)
    checkpoint = tmp_path / "model.safetensors"
    checkpoint.write_bytes(b"\0" * 16)
    with pytest.raises(DsaiiError, match="needs --config"):
        load_pipeline(checkpoint)
    with pytest.raises(DsaiiError, match="cannot load"):
        load_pipeline(checkpoint, config=_config_only(tmp_path))


def _config_only(tmp_path):
    folder = tmp_path / "config"
    folder.mkdir()
    (folder / "model_index.json").write_text('{"_class_name": "StableDiffusionInpaintPipeline"}')
    return folder


def test_the_cli_inpaints_a_workspace_with_a_model_folder(model_dir, masked_ws, capsys):
    from dsaii_core.cli import main
    with pytest.raises(SystemExit) as exited:
        main(["inpaint", str(masked_ws.root), "--backend", "diffusers", "--model", str(model_dir), "--steps", "1",
              "--guidance", "1", "--strength", "1", "--batch-size", "2", "--prompt", "severely shattered"])
    assert exited.value.code in (0, None), capsys.readouterr().err
    made = [i for i in masked_ws.catalog.items(role="anomaly") if i.origin == "inpaint:diffusers"]
    assert len(made) == 4
    assert all(i.info["prompt"] == "severely shattered" and i.info["params"]["batch_size"] == 2 for i in made)
