"""Workspaces full of crawled-looking candidates (real image crops, provenance, hashes, similarity)."""

from __future__ import annotations

import time

import numpy as np

from dsaii_core.collect.dedupe import image_hashes
from dsaii_core.collect.similarity import Ranker
from dsaii_core.workspace import Workspace
from tests.fixtures.fake_web import real_images

LICENSES = ("CC BY 4.0", "CC0 1.0", "CC BY-NC 2.0", None)
ENGINES = ("openverse", "wikimedia")


def add_candidates(ws: Workspace, class_name: str, count: int, side: int = 64, duplicate_every: int = 5,
                   seed: int = 0) -> list[int]:
    """`count` candidate items cut from real photos; every `duplicate_every`-th is a near copy of the one before."""
    rng = np.random.default_rng(seed)
    photos = list(real_images(256).values())
    cls = ws.add_class(class_name)
    ranker = Ranker(photos[0][:side, :side])
    ids, previous = [], None
    for index in range(count):
        if previous is not None and index % duplicate_every == 0:
            image = np.clip(previous.astype(int) + rng.integers(-3, 4, previous.shape), 0, 255).astype(np.uint8)
        else:
            photo = photos[rng.integers(len(photos))]
            y, x = rng.integers(0, photo.shape[0] - side), rng.integers(0, photo.shape[1] - side)
            image = photo[y:y + side, x:x + side].copy()
        previous = image
        hashes = image_hashes(image)
        info = {**hashes.as_info(), "similarity": round(ranker.score(image), 4)}
        item = ws.add_image(cls, image, status="candidate", origin=f"crawl:{ENGINES[index % 2]}", info=info,
                            skip_duplicates=False).item
        ws.catalog.set_provenance(item.id, source_url=f"https://example.org/{index}.png",
                                  page_url=f"https://example.org/page/{index}", license=LICENSES[index % 4],
                                  attribution=f"author {index}", engine=ENGINES[index % 2], query=class_name,
                                  title=f"image {index}", fetched_at=time.time())
        ids.append(item.id)
    return ids
