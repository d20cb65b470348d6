"""Choosing the object mask: synthetic shapes for each cue, demo images for the whole rule."""

from __future__ import annotations

import numpy as np
import pytest

from dsaii_core.masks import grabcut, select
from dsaii_core.masks.select import Candidate
from tests.fixtures.object_reference import hazelnut


def disc(shape=(100, 120), centre=(50, 60), radius=25) -> np.ndarray:
    rows, cols = np.ogrid[:shape[0], :shape[1]]
    return (rows - centre[0]) ** 2 + (cols - centre[1]) ** 2 <= radius ** 2


def test_centred_object_beats_border_stripe_and_tiny_speck():
    stripe = np.zeros((100, 120), bool)
    stripe[:, :30] = True
    speck = disc(radius=2)
    candidates = [Candidate(stripe, "sam-auto"), Candidate(disc(), "sam-auto"), Candidate(speck, "sam-auto")]
    choice = select.choose(candidates)
    assert choice.index == 1 and not choice.candidate.inverted
    assert select.objectness(candidates[2]) == 0.0  # under 0.5 % of the image


def test_background_candidate_is_inverted_into_the_object():
    background = ~disc()
    choice = select.choose([Candidate(background, "sam-auto"), Candidate(disc(radius=8, centre=(20, 20)), "sam-auto")])
    assert choice.index == 0 and choice.candidate.inverted
    assert np.array_equal(choice.candidate.mask, disc())


def test_reference_rule_inverts_the_largest_bbox_candidate():
    background = ~disc()
    object_part = disc(radius=10)
    choice = select.choose([Candidate(object_part, "sam-auto"), Candidate(background, "sam-auto"),
                            select.frame((100, 120))], rule="largest_bbox")
    assert choice.rule == "largest_bbox" and choice.index == 1
    assert np.array_equal(choice.candidate.mask, disc())


def test_reference_rule_fails_where_the_largest_candidate_is_the_object():
    """The reference's known failure: a large object's bbox beats a small background patch."""
    patch = np.zeros((100, 120), bool)
    patch[:10, :10] = True
    big_object = disc(radius=45)
    reference = select.choose([Candidate(patch, "sam-auto"), Candidate(big_object, "sam-auto")], rule="largest_bbox")
    ours = select.choose([Candidate(patch, "sam-auto"), Candidate(big_object, "sam-auto")])
    assert select.iou(reference.candidate.mask, big_object) < 0.3
    assert select.iou(ours.candidate.mask, big_object) == 1.0


def test_confidence_is_low_when_a_different_candidate_is_as_good():
    clear = select.choose([Candidate(disc(), "sam-auto"), Candidate(disc(radius=3, centre=(10, 10)), "sam-auto")])
    left, right = disc(centre=(50, 35), radius=20), disc(centre=(50, 85), radius=20)
    torn = select.choose([Candidate(left, "sam-auto"), Candidate(right, "sam-auto")])
    assert clear.confidence > 0.6 and not clear.doubtful
    assert torn.doubtful and torn.confidence < clear.confidence


def test_predicted_quality_breaks_ties():
    a = Candidate(disc(), "sam-auto", predicted_iou=0.6, stability=0.7)
    b = Candidate(disc(radius=24), "sam-auto", predicted_iou=0.98, stability=0.97)
    assert select.choose([a, b]).index == 1


def test_frame_wins_only_when_nothing_stands_out():
    rng = np.random.default_rng(0)
    noise = rng.integers(100, 140, (90, 90, 3), dtype=np.uint8)  # a uniform surface: no object
    blob = Candidate(disc((90, 90), (45, 45), 20), "saliency")
    assert select.choose([blob, select.frame((90, 90))], image=noise).candidate.source == "frame"
    image = noise.copy()
    image[blob.mask] = (200, 60, 30)  # a red object on it
    assert select.choose([blob, select.frame((90, 90))], image=image).candidate.source == "saliency"


def test_colour_contrast_separates_object_from_background():
    image = np.full((64, 64, 3), 40, np.uint8)
    inside = disc((64, 64), (32, 32), 15)
    image[inside] = (180, 90, 40)
    assert select.colour_contrast(image, inside) > 0.9
    assert select.colour_contrast(image, disc((64, 64), (10, 10), 5) & ~inside) < 0.3


def test_unknown_rule_is_refused():
    with pytest.raises(ValueError):
        select.choose([Candidate(disc(), "x")], rule="biggest")


@pytest.mark.parametrize("index", [0, 5, 10, 15])
def test_demo_hazelnut_automatic_choice_matches_reference(index):
    image, reference = hazelnut(index)
    choice = select.choose([*grabcut.candidates(image), select.frame(image.shape[:2])], image=image)
    assert select.iou(choice.candidate.mask, reference) >= 0.8
    assert choice.confidence >= select.DOUBTFUL_BELOW
