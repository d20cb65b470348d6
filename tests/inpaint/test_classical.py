import numpy as np
import pytest

from dsaii_core import imageio
from dsaii_core.demo import DEMO_DIR
from dsaii_core.inpaint.base import InpaintFailed, InpaintParams, InpaintRequest
from dsaii_core.inpaint.classical import DAMAGE, METHODS, ClassicalBackend, DefectSource, procedural
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
def test_each_method_paints_a_visible_defect_only_inside_the_mask(real, method):
    normal, mask, crack, texture = real
    backend = ClassicalBackend(method, [crack], [texture])
    params = InpaintParams(dilate_px=6)
    passed = 0
    for seed in range(4):
        out = backend.inpaint(normal, mask, "", "", seed, params)
        assert out.shape == normal.shape and out.dtype == np.uint8
        assert np.array_equal(out[mask == 0], normal[mask == 0])
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


def _real_targets() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Real MVTec hazelnut (256²) normals under real MVTec defect masks, and a real magnetic tile under its own."""
    targets = []
    for index, defect in enumerate(("crack", "cut", "hole", "print")):
        normal = imageio.read_image(DEMO_DIR / f"hazelnut/train/good/{index:03d}.png")
        targets.append((f"hazelnut/{defect}", normal,
                        imageio.read_mask(DEMO_DIR / f"hazelnut/ground_truth/{defect}/000_mask.png")))
    for index, defect in enumerate(("blowhole", "break", "crack")):
        tile = imageio.read_image(DEMO_DIR / f"magnetic_tile/train/good/{index:03d}.jpg")
        mask = imageio.read_mask(DEMO_DIR / f"magnetic_tile/ground_truth/{defect}/000_mask.png",
                                 shape=tile.shape[:2], resize=True)
        targets.append((f"magnetic_tile/{defect}", tile, mask))
    return targets


@pytest.mark.parametrize("method", METHODS)
def test_no_pixel_off_the_mask_changes_on_real_images(real, method):
    _, _, crack, texture = real
    backend = ClassicalBackend(method, [crack], [texture])
    for name, normal, mask in _real_targets():
        assert (mask > 0).any(), name
        for seed in range(12):
            out = backend.inpaint(normal, mask, "", "", seed, InpaintParams())
            changed = (out != normal).any(axis=2)
            assert not changed[mask == 0].any(), f"{name}, seed {seed}: {int(changed[mask == 0].sum())} px off the mask"
            assert changed[mask > 0].any(), f"{name}, seed {seed}: nothing changed inside the mask"
            report = check_result(normal, out, mask)
            assert report.off_mask_changed == 0 and "changed_outside_mask" not in report.flags


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_every_kind_of_damage_stays_inside_the_mask_once_pasted(real, damage):
    normal, mask, _, _ = real
    backend = ClassicalBackend("procedural")
    for seed in range(6):  # each damage alone, then what the backend makes of the same seed
        painted = procedural(normal, mask, np.random.default_rng(seed), damage)
        assert (painted != normal)[mask > 0].any()
    for seed in range(24):
        out = backend.inpaint(normal, mask, "", "", seed, InpaintParams(dilate_px=16))
        assert np.array_equal(out[mask == 0], normal[mask == 0])


def _source(label: str, class_name: str, item_id: int) -> DefectSource:
    image = imageio.read_image(DEMO_DIR / f"hazelnut/test/{label}/000.png")
    return DefectSource(image, imageio.read_mask(DEMO_DIR / f"hazelnut/ground_truth/{label}/000_mask.png"), label,
                        class_name, "object", item_id, f"classes/{class_name}/anomaly/{item_id:04d}.png")


def test_source_for_names_the_real_defect_each_seed_transplants(real):
    normal, mask, _, _ = real
    crack, prints = _source("crack", "hazelnut", 3), _source("print", "hazelnut", 9)
    backend = ClassicalBackend("auto", [crack, prints])
    named = set()
    for seed in range(8):
        source = backend.source_for(seed, InpaintParams())
        named.add(source.label)
        only = ClassicalBackend("transplant", [source, source])  # the same draws, one possible defect
        assert np.array_equal(backend.inpaint(normal, mask, "", "", seed, InpaintParams()),
                              only.inpaint(normal, mask, "", "", seed, InpaintParams()))
    assert named == {"crack", "print"}
    assert prints.provenance() == {"class": "hazelnut", "kind": "object", "item_id": 9,
                                   "file": "classes/hazelnut/anomaly/0009.png", "defect": "print"}


def test_no_source_is_named_when_no_real_defect_is_painted(real):
    crack = _source("crack", "hazelnut", 3)
    assert ClassicalBackend("procedural", [crack]).source_for(0) is None
    assert ClassicalBackend("auto").source_for(0) is None
    assert ClassicalBackend("auto", [crack]).source_for(0, InpaintParams(method="texture")) is None


def test_a_transplant_worked_on_the_window_around_the_mask_is_the_whole_image_transplant(real):
    # The backend works on the mask's box grown by WINDOW_PX only; the bytes are those of the whole image.
    from dsaii_core.inpaint.base import paste_outside
    from dsaii_core.inpaint.classical import transplant
    normal, _, crack, _ = real
    height, width = normal.shape[:2]
    masks = []
    for x0, y0, x1, y1 in [(100, 90, 150, 130), (0, 0, 40, 25), (width - 30, height - 50, width, height)]:
        mask = np.zeros((height, width), np.uint8)
        mask[y0:y1, x0:x1] = 255
        masks.append(mask)
    backend = ClassicalBackend("transplant", [crack])
    for seed, mask in enumerate(masks * 2):
        rng = np.random.default_rng(seed)
        rng.integers(1)  # the source draw
        whole = paste_outside(normal, transplant(normal, mask, crack, rng), mask)
        assert np.array_equal(backend.inpaint(normal, mask, "", "", seed, InpaintParams()), whole)
