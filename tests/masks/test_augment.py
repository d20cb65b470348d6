"""The reference gen_mask rule: geometry equal to torchvision's, same parameter and area
distributions as the reference transforms, exact accept rule, binary and deterministic output."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
import torchvision.transforms as T
import torchvision.transforms.functional as TF
from hypothesis import HealthCheck, given, settings, strategies as st
from scipy.stats import ks_2samp
from torchvision.transforms import InterpolationMode

from dsaii_core import imageio
from dsaii_core.demo import DEMO_DIR
from dsaii_core.errors import DsaiiError
from dsaii_core.masks.augment import (AffineDraw, AugmentParams, BankMask, Candidate, Region, augment_mask,
                                      bank_candidates, bank_to_image_matrix, fit_area, sample_draw)
from dsaii_core.masks.bank import crop_to_bank_mask, decode_bank_mask

DEMO_MASKS = sorted(DEMO_DIR.glob("*/ground_truth/*/*.png"))


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """torch's small-tensor ops are several times slower with threads fighting over 2 shared cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def demo_frames() -> list[np.ndarray]:
    """The demo's real defect masks up to 400 px a side, full frame, 0/255 (MVTec AD, magnetic tile);
    torchvision is slow on BSData's 2700 px frames, and frame size changes nothing in the geometry."""
    frames = [decode_bank_mask(p) for p in DEMO_MASKS]
    return [f for f in frames if max(f.shape) <= 400]


@pytest.fixture(scope="module")
def demo_bank(demo_frames) -> list[BankMask]:
    return [crop_to_bank_mask(i, m) for i, m in enumerate(demo_frames)]


def render(draw: AffineDraw, entry: BankMask, shape: tuple[int, int]) -> np.ndarray:
    """Our warp of one bank mask for one draw, to a full image of `shape` (bool)."""
    matrix = bank_to_image_matrix(draw, entry, shape)
    return cv2.warpAffine(entry.crop, matrix, (shape[1], shape[0]), flags=cv2.INTER_NEAREST) > 0


def torchvision_render(draw: AffineDraw, frame: np.ndarray, shape: tuple[int, int] | None = None) -> np.ndarray:
    """The reference transforms for the same draw: ToTensor, affine, flips, Resize; thresholded at half."""
    tensor = T.ToTensor()(frame)
    out = TF.affine(tensor, draw.angle, list(draw.translate), draw.scale, list(draw.shear),
                    interpolation=InterpolationMode.NEAREST, fill=[0.0])
    out = TF.hflip(out) if draw.hflip else out
    out = TF.vflip(out) if draw.vflip else out
    if shape is not None:
        out = T.Resize(shape)(out)
    return out[0].numpy() >= 0.5


# -- geometry ---------------------------------------------------------------------------------------
def test_warp_equals_torchvision_affine_and_flips_pixel_for_pixel(demo_frames, demo_bank):
    rng = np.random.default_rng(3)
    params = AugmentParams()
    for frame, entry in zip(demo_frames[::3], demo_bank[::3]):  # square and non-square frames
        for _ in range(4):
            draw = sample_draw(rng, params, entry.frame)
            ours = render(draw, entry, frame.shape)
            reference = torchvision_render(draw, frame)
            # Only rounding ties at exact half-pixel sample positions may differ.
            assert np.count_nonzero(ours != reference) <= max(2, 0.002 * reference.sum()), (draw, entry.frame)


def test_resize_to_the_image_matches_torchvision_resize(demo_frames, demo_bank):
    rng = np.random.default_rng(4)
    params = AugmentParams(translate=(0.1, 0.1), scale=(0.8, 1.5))
    for shape in ((300, 200), (97, 131)):  # upscale and downscale, aspect changed
        checked = 0
        for frame, entry in zip(demo_frames, demo_bank):
            draw = sample_draw(rng, params, entry.frame)
            reference = torchvision_render(draw, frame, shape)
            if reference.sum() < 200:
                continue
            ours = render(draw, entry, shape)
            iou = (ours & reference).sum() / (ours | reference).sum()
            assert iou > 0.8, (shape, draw)
            checked += 1
        assert checked >= 5


def test_parameters_are_drawn_like_randomaffine_get_params():
    params = AugmentParams()
    frame = (320, 200)
    rng = np.random.default_rng(0)
    ours = [sample_draw(rng, params, frame) for _ in range(3000)]
    torch.manual_seed(0)
    reference = []
    for _ in range(3000):
        angle, translate, scale, shear = T.RandomAffine.get_params([0.0, 360.0], [0.5, 0.5], [0.1, 2.0],
                                                                 [10.0, 10.0], list(frame))
        reference.append(AffineDraw(angle, translate, scale, shear, bool(torch.rand(1) < 0.5),
                                    bool(torch.rand(1) < 0.5)))
    for name, pick in (("angle", lambda d: d.angle), ("scale", lambda d: d.scale),
                       ("tx", lambda d: d.translate[0]), ("ty", lambda d: d.translate[1])):
        assert ks_2samp([pick(d) for d in ours], [pick(d) for d in reference]).pvalue > 1e-3, name
    # shear=(10, 10) is an x-shear range: always exactly 10°, never a y-shear.
    assert {d.shear for d in ours} == {d.shear for d in reference} == {(10.0, 0.0)}
    for draws in (ours, reference):
        assert all(isinstance(d.translate[0], int) and abs(d.translate[0]) <= 160 for d in draws)
        assert all(abs(d.translate[1]) <= 100 for d in draws)
        assert abs(np.mean([d.hflip for d in draws]) - 0.5) < 0.04
        assert abs(np.mean([d.vflip for d in draws]) - 0.5) < 0.04


def test_area_distribution_matches_the_reference_transforms(demo_frames, demo_bank):
    """Whole pipeline, no accept rule: areas from ours and from torchvision on the same bank agree."""
    shape = (128, 128)
    reference_aug = T.Compose([T.ToTensor(), T.RandomAffine(degrees=(0, 360), translate=(0.5, 0.5), scale=(0.1, 2),
                                                            shear=(10, 10)),
                               T.RandomHorizontalFlip(), T.RandomVerticalFlip(), T.Resize(shape)])
    torch.manual_seed(1)
    rng = np.random.default_rng(1)
    params = AugmentParams()
    ours, reference = [], []
    for _ in range(500):
        index = int(rng.integers(len(demo_bank)))
        ours.append(render(sample_draw(rng, params, demo_bank[index].frame), demo_bank[index], shape).mean())
        reference.append((reference_aug(demo_frames[int(rng.integers(len(demo_frames)))])[0] >= 0.5).float().mean())
    ours, reference = np.array(ours), np.array(reference)
    assert ks_2samp(ours, reference).pvalue > 1e-3
    assert abs((ours == 0).mean() - (reference == 0).mean()) < 0.08  # defects pushed out of the frame
    assert 0.75 < np.mean(ours) / np.mean(reference) < 1.33


def orientation(mask: np.ndarray) -> float:
    """Angle (degrees, 0–180) of a mask's principal axis, from its second moments."""
    m = cv2.moments(mask.astype(np.uint8), binaryImage=True)
    return float(np.degrees(0.5 * np.arctan2(2 * m["mu11"], m["mu20"] - m["mu02"])) % 180)


def test_orientation_and_size_statistics_match_the_reference_transforms():
    """An elongated defect, no translation (nothing clipped): principal-axis angles and areas after ours and
    after torchvision's RandomAffine + flips are distributed alike."""
    frame = np.zeros((160, 160), np.uint8)
    cv2.ellipse(frame, (80, 80), (50, 8), 0, 0, 360, 255, -1)
    entry = crop_to_bank_mask(0, frame)
    params = AugmentParams(translate=(0.0, 0.0), scale=(0.5, 1.2))
    reference_aug = T.Compose([T.ToTensor(), T.RandomAffine(degrees=(0, 360), scale=(0.5, 1.2), shear=(10, 10)),
                               T.RandomHorizontalFlip(), T.RandomVerticalFlip()])
    torch.manual_seed(2)
    rng = np.random.default_rng(2)
    ours = [render(sample_draw(rng, params, entry.frame), entry, frame.shape) for _ in range(400)]
    reference = [reference_aug(frame)[0].numpy() >= 0.5 for _ in range(400)]
    assert ks_2samp([orientation(m) for m in ours], [orientation(m) for m in reference]).pvalue > 1e-3
    assert ks_2samp([m.sum() for m in ours], [m.sum() for m in reference]).pvalue > 1e-3


# -- the accept rule ------------------------------------------------------------------------------
def naive_augment(bank, shape, params, rng, object_mask):
    """The rule written plainly: full-size warp of every try, no shortcuts; first fit wins."""
    inside = np.ones(shape, bool) if object_mask is None else object_mask > 0
    low, high = params.area[0] * inside.size, params.area[1] * inside.size
    tries = bank_candidates(bank, shape, params, rng)
    for number in range(1, params.retries + 2):
        candidate = next(tries)
        entry = next(e for e in bank if e.id == candidate.detail["bank_id"])
        matrix = bank_to_image_matrix(AffineDraw(candidate.detail["angle"], tuple(candidate.detail["translate"]),
                                                 candidate.detail["scale"], tuple(candidate.detail["shear"]),
                                                 candidate.detail["hflip"], candidate.detail["vflip"]), entry, shape)
        mask = (cv2.warpAffine(entry.crop, matrix, (shape[1], shape[0]), flags=cv2.INTER_NEAREST) > 0) & inside
        if low <= mask.sum() <= high:
            return np.where(mask, 255, 0).astype(np.uint8), number
    return None, params.retries + 1


def random_bank(draw_int, count: int) -> list[BankMask]:
    bank = []
    for index in range(count):
        width, height = draw_int(8, 120), draw_int(8, 120)
        frame = np.zeros((height, width), np.uint8)
        centre = (draw_int(0, width - 1), draw_int(0, height - 1))
        axes = (draw_int(1, max(1, width // 2)), draw_int(1, max(1, height // 3)))
        cv2.ellipse(frame, centre, axes, draw_int(0, 180), 0, 360, 255, -1)
        bank.append(crop_to_bank_mask(index, frame))
    return bank


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), seed=st.integers(0, 2**32 - 1), texture=st.booleans(),
       height=st.integers(16, 160), width=st.integers(16, 160),
       low=st.floats(0.002, 0.2), span=st.floats(1.0, 3.0))
def test_rule_binary_in_range_inside_object_deterministic_and_exact(data, seed, texture, height, width, low, span):
    bank = random_bank(lambda a, b: data.draw(st.integers(a, b)), data.draw(st.integers(1, 4)))
    object_mask = np.zeros((height, width), np.uint8)
    cv2.ellipse(object_mask, (width // 2, height // 2), (max(1, width // 3), max(1, height // 3)), 0, 0, 360, 255, -1)
    params = AugmentParams.defaults_for("texture" if texture else "object").replace(
        area=(low, min(1.0, low * span)), retries=60)

    result = augment_mask(bank, (height, width), params, np.random.default_rng(seed), object_mask, texture)
    again = augment_mask(bank, (height, width), params, np.random.default_rng(seed), object_mask, texture)
    expected, tries = naive_augment(bank, (height, width), params, np.random.default_rng(seed),
                                    None if texture else object_mask)

    assert result.mask is not None and result.mask.dtype == np.uint8 and result.mask.shape == (height, width)
    assert set(np.unique(result.mask)) <= {0, 255}
    assert result.mask.tobytes() == again.mask.tobytes()
    if not texture:
        assert not np.any(result.mask[object_mask == 0])
    assert result.fitted == (expected is not None)
    assert result.tries == tries
    if result.fitted:
        area = np.count_nonzero(result.mask)
        assert params.area[0] * height * width <= area <= params.area[1] * height * width
        assert result.mask.tobytes() == expected.tobytes()


def test_no_fit_keeps_the_closest_try_and_says_so(demo_bank):
    object_mask = np.zeros((64, 64), np.uint8)
    object_mask[30:33, 30:33] = 255  # 9 pixels: 1 % of the image is impossible
    params = AugmentParams(retries=50)
    result = augment_mask(demo_bank, (64, 64), params, np.random.default_rng(0), object_mask)
    assert not result.fitted and result.tries == 51
    assert result.mask is not None and 0 < np.count_nonzero(result.mask) <= 9
    assert not np.any(result.mask[object_mask == 0])
    none = augment_mask(demo_bank, (64, 64), params.replace(fallback="none"), np.random.default_rng(0), object_mask)
    assert none.mask is None and not none.fitted


def test_texture_ignores_the_object_mask_and_accepts_5_to_10_percent(demo_bank):
    object_mask = np.zeros((128, 128), np.uint8)
    object_mask[:10, :10] = 255
    params = AugmentParams.defaults_for("texture")
    for seed in range(5):
        result = augment_mask(demo_bank, (128, 128), params, np.random.default_rng(seed), object_mask, texture=True)
        assert result.fitted and 0.05 <= result.area <= 0.10
        assert np.any(result.mask[object_mask == 0])


def test_real_object_mask_keeps_every_defect_on_the_part(demo_bank):
    image = imageio.read_image(DEMO_DIR / "hazelnut" / "train" / "good" / "000.png")
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    _, nut = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    for seed in range(8):
        result = augment_mask(demo_bank, gray.shape, AugmentParams(), np.random.default_rng(seed), nut)
        assert result.fitted and 0.01 <= result.area <= 0.05
        assert not np.any(result.mask[nut == 0])


def test_fit_area_never_renders_a_try_that_cannot_fit():
    region = Region((50, 50), None)
    rendered = []

    def candidates():
        yield Candidate((0, 2, 0, 2), lambda: rendered.append("small") or np.ones((2, 2), np.uint8), {"n": 1})
        yield Candidate((0, 10, 0, 10), lambda: rendered.append("fits") or np.ones((10, 10), np.uint8), {"n": 2})

    result = fit_area(candidates(), region, AugmentParams(area=(0.01, 0.05)))
    assert result.fitted and result.detail == {"n": 2} and rendered == ["fits"] and result.tries == 2


def test_empty_bank_is_a_clear_error():
    with pytest.raises(DsaiiError, match="bank is empty"):
        augment_mask([], (10, 10), AugmentParams(), np.random.default_rng(0))


# -- parameters -------------------------------------------------------------------------------
def test_defaults_are_the_reference_values_per_kind():
    objects, textures = AugmentParams.defaults_for("object"), AugmentParams.defaults_for("texture")
    assert (objects.degrees, objects.translate, objects.scale, objects.shear) == ((0, 360), (0.5, 0.5), (0.1, 2),
                                                                                  (10, 10))
    assert (objects.hflip, objects.vflip, objects.area, objects.retries) == (0.5, 0.5, (0.01, 0.05), 1000)
    assert (textures.translate, textures.area) == ((0.1, 0.1), (0.05, 0.10))


def test_parameters_round_trip_and_refuse_nonsense():
    params = AugmentParams.defaults_for("texture").replace(per_image=3, seed=7, shapes=("crack",))
    assert AugmentParams.from_dict(params.as_dict(), "texture") == params
    assert AugmentParams.from_dict({"seed": 2, "unknown": 1}, "object").seed == 2
    for bad in ({"area": (0.2, 0.1)}, {"area": (0, 0.1)}, {"source": "magic"}, {"scale": (0, 1)},
                {"hflip": 1.5}, {"shear": (1, 2, 3)}, {"shapes": ("comet",)}, {"per_image": 0}):
        with pytest.raises(DsaiiError):
            AugmentParams().replace(**bad)
