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
