import cv2
import numpy as np

from dsaii_core import imageio
from dsaii_core.demo import DEMO_DIR
from dsaii_core.inpaint.qc import check_result


def _pair():
    normal = imageio.read_image(DEMO_DIR / "hazelnut/train/good/000.png")
    mask = np.zeros(normal.shape[:2], np.uint8)
    cv2.circle(mask, (128, 128), 25, 255, -1)
    return normal, mask


def test_a_clear_defect_inside_the_mask_passes():
    normal, mask = _pair()
    anomaly = normal.copy()
    anomaly[mask > 0] = (anomaly[mask > 0] * 0.3).astype(np.uint8)
    anomaly[mask > 0] += np.random.default_rng(0).integers(0, 40, (int((mask > 0).sum()), 3), dtype=np.uint8)
    report = check_result(normal, anomaly, mask)
    assert report.passed, report
    assert report.inside_mad > 20 and report.outside_mad == 0


def test_an_unchanged_image_has_no_visible_defect():
    normal, mask = _pair()
    assert check_result(normal, normal.copy(), mask).flags == ("no_visible_defect",)


def test_a_black_image_is_blank():
    normal, mask = _pair()
    report = check_result(normal, np.zeros_like(normal), mask)
    assert "blank_output" in report.flags and not report.passed


def test_change_outside_the_mask_bleeds():
    normal, mask = _pair()
    anomaly = normal.copy()
    anomaly[mask > 0] = 0
    anomaly[:60, :60] = 255 - anomaly[:60, :60]
    assert "bleeds_outside_mask" in check_result(normal, anomaly, mask).flags


def test_a_resized_result_is_flagged_and_serialisable():
    normal, mask = _pair()
    report = check_result(normal, cv2.resize(normal, (128, 128)), mask)
    assert report.flags == ("size_changed",)
    assert report.as_dict()["passed"] is False and "size changed" in report.summary()


def _clear_defect():
    normal, mask = _pair()
    anomaly = normal.copy()
    anomaly[mask > 0] = (anomaly[mask > 0] * 0.3).astype(np.uint8)
    return normal, anomaly, mask


def test_one_pixel_changed_just_off_the_mask_is_flagged_with_its_figures():
    normal, anomaly, mask = _clear_defect()
    ys, xs = np.nonzero((cv2.dilate(mask, np.ones((5, 5), np.uint8)) > 0) & (mask == 0))
    anomaly[ys[0], xs[0], 1] ^= 1  # one grey level, two pixels from the mask: inside the old 16 px margin
    report = check_result(normal, anomaly, mask)
    assert report.flags == ("changed_outside_mask",) and not report.passed
    assert report.off_mask_max == 1 and report.off_mask_changed == round(1 / int((mask == 0).sum()), 6)
    assert "changed outside the mask: 0.0016 % of the pixels off it, max Δ 1" in report.summary()


def test_a_result_identical_off_the_mask_reports_no_change_there():
    normal, anomaly, mask = _clear_defect()
    report = check_result(normal, anomaly, mask)
    assert report.passed and report.off_mask_changed == 0 and report.off_mask_max == 0


def test_a_defect_from_another_class_is_flagged_with_that_class():
    normal, anomaly, mask = _clear_defect()
    prints = {"class": "hazelnut", "kind": "object", "item_id": 7, "file": "print/000.png", "defect": "print"}
    report = check_result(normal, anomaly, mask, class_name="magnetic_tile", source=prints)
    assert report.flags == ("defect_from_other_class",)
    assert "defect from another class: hazelnut (object)" in report.summary()
    assert report.as_dict()["source"] == prints and report.as_dict()["passed"] is False
    own = check_result(normal, anomaly, mask, class_name="hazelnut", source=prints)
    assert own.passed and own.source == prints
    assert check_result(normal, anomaly, mask, class_name="magnetic_tile").passed  # no real defect used


def test_figures_on_the_changed_box_equal_those_of_the_whole_image():
    """QC measures only the box around the mask and the changed pixels; off it the images are equal."""
    from skimage.metrics import structural_similarity
    rng = np.random.default_rng(3)
    normal = imageio.read_image(DEMO_DIR / "hazelnut/train/good/000.png")
    for trial in range(12):
        mask = np.zeros(normal.shape[:2], np.uint8)
        cv2.circle(mask, tuple(int(v) for v in rng.integers(0, 256, 2)), int(rng.integers(4, 50)), 255, -1)
        anomaly = normal.copy()
        anomaly[mask > 0] = rng.integers(0, 255, (int((mask > 0).sum()), 3))
        if trial % 2:  # a bleed somewhere else
            y, x = rng.integers(0, 240, 2)
            anomaly[y:y + 8, x:x + 8] //= 2
        report = check_result(normal, anomaly, mask)
        inside = mask > 0
        near = cv2.dilate(inside.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (33, 33))) > 0
        diff = np.abs(anomaly.astype(int) - normal.astype(int)).max(axis=2)
        grey = [cv2.cvtColor(i, cv2.COLOR_RGB2GRAY) for i in (normal, anomaly)]
        _, ssim = structural_similarity(*grey, full=True, data_range=255, win_size=7)
        assert report.inside_mad == round(float(diff[inside].mean()), 3)
        assert report.outside_mad == round(float(diff[~near].mean()), 3)
        assert report.inside_ssim == round(float(ssim[inside].mean()), 4)
        assert report.outside_ssim == round(float(ssim[~near].mean()), 4)
        assert report.outside_changed == round(float((diff[~near] > 8).mean()), 5)
        assert report.off_mask_changed == round(float((diff[~inside] > 0).mean()), 6)


def test_fast_reductions_give_numpys_figures():
    from dsaii_core.inpaint.qc import _channel_max, _std
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (37, 53, 3), np.uint8)
    assert np.array_equal(_channel_max(image), image.max(axis=2))
    assert abs(_std(image) - float(image.std())) < 1e-9
    assert abs(_std(image[5:20, 3:40]) - float(image[5:20, 3:40].std())) < 1e-9
