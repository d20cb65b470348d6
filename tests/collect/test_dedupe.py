import numpy as np

from dsaii_core import imageio
from dsaii_core.collect.dedupe import (DuplicateIndex, ImageHashes, class_index, hash_distance, image_hashes,
                                       near_duplicate_groups)
from tests.fixtures.fake_web import real_images

IMAGES = real_images()


def reencoded(name: str) -> np.ndarray:
    from tests.fixtures.fake_web import _jpeg
    return imageio.read_image(_jpeg(IMAGES[name], quality=60, scale=0.7))


def test_resized_reencoded_copies_are_near_and_different_photos_are_far():
    for name in ("coffee", "rocket", "brick"):
        assert hash_distance(image_hashes(IMAGES[name]), image_hashes(reencoded(name))) <= 8
    names = list(IMAGES)
    hashes = {n: image_hashes(IMAGES[n]) for n in names}
    assert min(hash_distance(hashes[a], hashes[b]) for a in names for b in names if a < b) > 12


def test_index_tells_exact_from_near_duplicates():
    index = DuplicateIndex()
    index.add(image_hashes(IMAGES["coffee"]), 7)
    assert index.match(image_hashes(IMAGES["coffee"].copy())) == ("exact", 7)
    assert index.match(image_hashes(reencoded("coffee"))) == ("near", 7)
    assert index.match(image_hashes(IMAGES["chelsea"])) is None


def test_groups_keep_chains_of_near_duplicates_together():
    hashes = [image_hashes(IMAGES["coffee"]), image_hashes(IMAGES["rocket"]), None,
              image_hashes(reencoded("coffee")), image_hashes(reencoded("rocket")), image_hashes(IMAGES["brick"])]
    assert near_duplicate_groups(hashes).tolist() == [0, 1, 2, 0, 1, 5]


def test_hashes_survive_the_round_trip_through_item_info_and_are_cached(tiny_ws):
    cls = tiny_ws.get_class("hazelnut")
    index = class_index(tiny_ws, cls)
    assert len(index) == 3
    infos = [item.info for item in tiny_ws.catalog.items(cls.id)]
    assert all(ImageHashes.from_info(info) for info in infos)
    first = tiny_ws.catalog.items(cls.id)[0]
    assert index.match(image_hashes(tiny_ws.read_image(first)))[0] == "exact"


def test_grouping_two_thousand_hashes_is_fast():
    import time
    rng = np.random.default_rng(0)
    hashes = [ImageHashes(int(p), int(d), str(i)) for i, (p, d) in
              enumerate(rng.integers(0, 2**63, size=(2000, 2), dtype=np.int64))]
    start = time.perf_counter()
    labels = near_duplicate_groups(hashes)
    assert time.perf_counter() - start < 1.0 and len(set(labels.tolist())) > 1990
