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
