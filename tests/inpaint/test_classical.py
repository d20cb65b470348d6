import numpy as np
import pytest

from dsaii_core import imageio
from dsaii_core.demo import DEMO_DIR
from dsaii_core.inpaint.base import InpaintFailed, InpaintParams, InpaintRequest
from dsaii_core.inpaint.classical import ClassicalBackend, DefectSource
from dsaii_core.inpaint.crop import blend_region
from dsaii_core.inpaint.qc import check_result


@pytest.fixture(scope="module")
def real():
    normal = imageio.read_image(DEMO_DIR / "transistor/train/good/000.png")
    crack = DefectSource(imageio.read_image(DEMO_DIR / "hazelnut/test/crack/000.png"),
                         imageio.read_mask(DEMO_DIR / "hazelnut/ground_truth/crack/000_mask.png"), "crack")
    mask = imageio.read_mask(DEMO_DIR / "transistor/ground_truth/damaged_case/000_mask.png")
    texture = imageio.read_image(DEMO_DIR / "magnetic_tile/train/good/000.jpg")
    return normal, mask, crack, texture


@pytest.mark.parametrize("method", ["transplant", "texture", "procedural"])
def test_each_method_paints_a_visible_defect_only_near_the_mask(real, method):
    normal, mask, crack, texture = real
    backend = ClassicalBackend(method, [crack], [texture])
    params = InpaintParams(dilate_px=6)
    passed = 0
    for seed in range(4):
        out = backend.inpaint(normal, mask, "", "", seed, params)
        region = blend_region(mask, 6)
        assert out.shape == normal.shape and out.dtype == np.uint8
        assert np.array_equal(out[~region], normal[~region])
        passed += check_result(normal, out, mask).passed
    assert passed >= 3
    assert "not diffusion" in backend.label and not backend.is_diffusion


def test_results_are_deterministic_per_seed_and_differ_between_seeds(real):
    normal, mask, crack, _ = real
    backend = ClassicalBackend("auto", [crack])
    first = backend.inpaint(normal, mask, "", "", 7, InpaintParams())
    assert np.array_equal(first, backend.inpaint(normal, mask, "", "", 7, InpaintParams()))
    assert not np.array_equal(first, backend.inpaint(normal, mask, "", "", 8, InpaintParams()))


def test_transplant_without_real_defects_falls_back_to_procedural_damage(real):
    normal, mask, _, _ = real
    backend = ClassicalBackend("transplant")
    assert backend.resolved_method() == "procedural" and "Procedural" in backend.label
    assert check_result(normal, backend.inpaint(normal, mask, "", "", 0, InpaintParams()), mask).passed


def test_a_batch_keeps_each_failure_with_its_request(real):
    normal, mask, _, _ = real
    results = ClassicalBackend("procedural").inpaint_batch(
        [InpaintRequest(normal, mask, seed=1), InpaintRequest(normal, np.zeros_like(mask), seed=2)], InpaintParams())
    assert isinstance(results[0], np.ndarray) and isinstance(results[1], InpaintFailed)


def test_grey_images_get_grey_defects(real):
    _, _, crack, _ = real
    tile = imageio.read_image(DEMO_DIR / "magnetic_tile/train/good/001.jpg")
    mask = np.zeros(tile.shape[:2], np.uint8)
    mask[tile.shape[0] // 3: tile.shape[0] // 2, 5: tile.shape[1] // 2] = 255
    colourful = imageio.read_image(DEMO_DIR / "transistor/train/good/000.png")
    for method in ("transplant", "texture", "procedural"):
        out = ClassicalBackend(method, [crack], [colourful]).inpaint(tile, mask, "", "", 3, InpaintParams())
        assert out.shape == tile.shape
        assert (out[:, :, 0] == out[:, :, 1]).all() and (out[:, :, 1] == out[:, :, 2]).all()  # stays grey
        assert check_result(tile, out, mask).inside_mad > 3
