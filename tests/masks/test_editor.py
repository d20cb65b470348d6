"""The mask editor's Python side (dsaii_core/masks/editor.py): the mask on the wire, checks, prompts and their answers.

The drawing itself happens in the browser: tests/e2e/test_mask_editor_browser.py."""

from __future__ import annotations

import base64
import zlib

import cv2
import numpy as np
import pytest

from dsaii_core import imageio
from dsaii_core.errors import DsaiiError
from dsaii_core.masks import editor, grabcut
from dsaii_core.masks.sam import SamBackend, SamConfig
from dsaii_core.masks.select import Prompt, iou
from tests.fixtures.object_reference import hazelnut
from tests.fixtures.tiny_sam import tiny_sam_checkpoint


def random_mask(shape, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).random(shape) < 0.3


def deflated(raw: bytes, width: int, height: int) -> dict:
    return {"width": width, "height": height, "encoding": "bits+deflate",
            "data": base64.b64encode(zlib.compress(raw)).decode()}


@pytest.mark.parametrize("shape", [(37, 53), (1, 1), (1024, 1024), (300, 4096)])
def test_a_mask_survives_the_trip_bit_for_bit(shape):
    mask = random_mask(shape)
    payload = editor.encode_mask(mask)
    assert (payload["width"], payload["height"]) == (shape[1], shape[0])
    decoded = editor.decode_editor_mask(payload, shape)
    assert decoded.dtype == np.uint8 and set(np.unique(decoded)) <= {0, 255}
    assert np.array_equal(decoded > 0, mask)


def test_bits_are_packed_row_by_row_most_significant_first_as_the_browser_packs_them():
    mask = np.zeros((2, 5), bool)
    mask[0, 0] = mask[1, 4] = True  # bits 0 and 9 of 10
    raw = bytes([0b10000000, 0b01000000])
    assert np.array_equal(editor.decode_editor_mask(deflated(raw, 5, 2), (2, 5)) > 0, mask)
    plain = {"width": 5, "height": 2, "encoding": "bits", "data": base64.b64encode(raw).decode()}
    assert np.array_equal(editor.decode_editor_mask(plain, (2, 5)) > 0, mask)  # a browser without deflate


def test_a_mask_of_another_size_is_refused_not_resized():
    payload = editor.encode_mask(random_mask((100, 120)))
    with pytest.raises(DsaiiError, match=r"a 120×100 mask for a 120×99 image: not saved"):
        editor.decode_editor_mask(payload, (99, 120))


@pytest.mark.parametrize("payload, message", [
    (None, "sent no mask"),
    ({"width": "4", "height": 4, "encoding": "bits", "data": ""}, "a malformed mask"),
    ({"width": 4, "height": 4, "encoding": "png", "data": ""}, "unknown encoding"),
    ({"width": 4, "height": 4, "encoding": "bits", "data": "not base64!"}, "damaged"),
    ({"width": 4, "height": 4, "encoding": "bits+deflate", "data": base64.b64encode(b"junk").decode()}, "damaged"),
    ({"width": 4, "height": 4, "encoding": "bits", "data": base64.b64encode(b"\xff").decode()}, "holds 8 bits"),
])
def test_damaged_payloads_are_refused_with_a_reason(payload, message):
    with pytest.raises(DsaiiError, match=message):
        editor.decode_editor_mask(payload, (4, 4))


def test_a_deflate_bomb_is_cut_off_at_the_image_s_size():
    bomb = deflated(bytes(50_000_000), 64, 64)  # 50 MB of zeros in ~50 kB, for a 64×64 image (512 bytes)
    assert len(bomb["data"]) < 100_000
    with pytest.raises(DsaiiError, match="does not match its size"):
        editor.decode_editor_mask(bomb, (64, 64))
    short = deflated(bytes(511), 64, 64)
    with pytest.raises(DsaiiError, match="holds 4088 bits"):
        editor.decode_editor_mask(short, (64, 64))


def test_the_image_goes_to_the_browser_losslessly():
    image, _ = hazelnut(0)
    url = editor.image_data_url(image)
    assert url.startswith("data:image/png;base64,")
    assert np.array_equal(imageio.read_image(base64.b64decode(url.split(",", 1)[1])), image)


# ---- prompts ------------------------------------------------------------------------------------------------------
def test_a_prompt_is_read_in_image_pixels_and_checked():
    base = random_mask((50, 80))
    request = editor.read_prompt({"id": "a-1", "positive": [[10, 20.5]], "negative": [[79, 49]],
                                  "box": [60, 40, 5, 8], "base": editor.encode_mask(base)}, (50, 80))
    assert request.id == "a-1" and request.prompt.positive == [(10.0, 20.5)]
    assert request.prompt.negative == [(79.0, 49.0)] and request.prompt.box == (5.0, 8.0, 60.0, 40.0)
    assert np.array_equal(request.base > 0, base)
    assert editor.read_prompt({"positive": [[1, 1]], "box": [3, 3, 4, 3.5]}, (50, 80)).prompt.box is None  # a click
    with pytest.raises(DsaiiError, match="outside the 80×50 image"):
        editor.read_prompt({"positive": [[81, 1]]}, (50, 80))
    with pytest.raises(DsaiiError, match="malformed object points"):
        editor.read_prompt({"positive": [[1, 1]] * 101}, (50, 80))
    with pytest.raises(DsaiiError, match="malformed a box"):
        editor.read_prompt({"box": [1, 2, 3]}, (50, 80))
    with pytest.raises(DsaiiError, match="click on the image"):
        editor.read_prompt({"positive": [], "negative": []}, (50, 80))


def disc_image(side: int, centre: tuple[int, int], radius: int) -> tuple[np.ndarray, np.ndarray]:
    """A bright textured disc on a dark textured background, and its mask."""
    rng = np.random.default_rng(1)
    image = (rng.normal(40, 8, (side, side, 3))).clip(0, 255).astype(np.uint8)
    truth = np.zeros((side, side), np.uint8)
    cv2.circle(truth, centre, radius, 1, -1)
    image[truth > 0] = (rng.normal((200, 150, 60), 8, (int(truth.sum()), 3))).clip(0, 255).astype(np.uint8)
    return image, truth > 0


def test_grabcut_answers_a_click_and_a_box_at_1024():
    image, truth = disc_image(1024, (500, 530), 260)
    click = editor.answer_prompt(image, Prompt(positive=[(500.0, 530.0)]))
    assert click.mask.shape == (1024, 1024) and click.source == "grabcut-prompt" and iou(click.mask, truth) > 0.97
    box = editor.answer_prompt(image, Prompt(box=(220.0, 250.0, 780.0, 810.0)))
    assert iou(box.mask, truth) > 0.97


def test_a_small_defect_in_a_box_is_not_lost_to_downscaling():
    image, truth = disc_image(1024, (700, 300), 14)  # 28 px across: under 9 px at GrabCut's 320 px working size
    answer = editor.answer_prompt(image, Prompt(box=(676.0, 276.0, 724.0, 324.0)))
    assert iou(answer.mask, truth) > 0.85
    whole = grabcut.grabcut(image, box=(676.0, 276.0, 724.0, 324.0))  # the whole image at the working size
    assert iou(whole, truth) < iou(answer.mask, truth)


def test_refining_keeps_the_mask_outside_the_box_and_a_background_click_wins():
    image, truth = disc_image(1024, (500, 500), 200)
    base = np.zeros((1024, 1024), bool)
    base[:40, :40] = True  # something far away (outside the box and its context), kept as it is
    answer = editor.answer_prompt(image, Prompt(box=(280.0, 280.0, 720.0, 720.0), negative=[(500.0, 500.0)]),
                                  base=base)
    assert answer.source == "grabcut-refine" and answer.mask[:40, :40].all()
    assert not answer.mask[495:506, 495:506].any()  # the disc of the background click
    assert iou(answer.mask[200:800, 200:800], truth[200:800, 200:800]) > 0.9


def test_refined_edges_follow_the_full_resolution_outline():
    image, truth = disc_image(1024, (512, 512), 301)
    scale = grabcut.WORK_SIDE / 1024
    small = cv2.resize(truth.astype(np.uint8), None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    coarse = cv2.resize(small.astype(np.float32), (1024, 1024), interpolation=cv2.INTER_NEAREST) >= 0.5
    refined = grabcut.refine_edges(image, coarse, scale)
    assert np.count_nonzero(refined != truth) < np.count_nonzero(coarse != truth) / 2
    far = cv2.dilate((coarse ^ refined).astype(np.uint8), np.ones((3, 3))) > 0
    assert not (far & ~(cv2.dilate(coarse.astype(np.uint8), np.ones((13, 13))) > 0)).any()  # only near the outline


def test_sam_answers_when_loaded(tmp_path):
    backend = SamBackend.load(SamConfig(tiny_sam_checkpoint(tmp_path / "sam.pth"), "tiny", "cpu"))
    image, _ = hazelnut(0)
    answer = editor.answer_prompt(image, Prompt(positive=[(128.0, 128.0)]), backend)
    assert answer.mask.shape == image.shape[:2] and answer.source == "sam-prompt"
    refined = editor.answer_prompt(image, Prompt(positive=[(128.0, 128.0)]), backend, base=answer.mask)
    assert refined.source == "sam-refine"


# ---- replies to the browser ---------------------------------------------------------------------------------------
def test_save_reply_stores_the_mask_or_says_why_not():
    stored = []
    mask = random_mask((20, 30))
    reply = editor.save_reply({"token": "t1", "mask": editor.encode_mask(mask)}, (20, 30), stored.append)
    assert reply == {"saved": "t1", "failed": None} and np.array_equal(stored[0] > 0, mask)
    reply = editor.save_reply({"token": "t2", "mask": editor.encode_mask(mask)}, (21, 30), stored.append)
    assert reply["saved"] is None and reply["failed"]["token"] == "t2" and "not saved" in reply["failed"]["message"]

    def refuse(_):
        raise DsaiiError("the drawn mask is empty")
    assert editor.save_reply({"token": "t3", "mask": editor.encode_mask(mask)}, (20, 30), refuse)["failed"] == {
        "token": "t3", "message": "the drawn mask is empty"}
    assert len(stored) == 1


def test_prompt_reply_answers_or_says_why_not():
    reply = editor.prompt_reply({"id": "p1", "positive": [[3, 4]]}, (10, 10), lambda request: np.ones((10, 10)))
    assert reply["id"] == "p1" and np.all(editor.decode_editor_mask(reply["mask"], (10, 10)) == 255)
    assert editor.prompt_reply({"id": "p2", "positive": [[30, 4]]}, (10, 10), lambda r: None) == {
        "id": "p2", "error": "the editor sent object points outside the 10×10 image"}
