"""Near duplicates among a class's normal images, found while importing so the report can name them.

Perceptual hashes propose candidates and the thumbnail correlation confirms them, as `validate` does
(see `collect.dedupe`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from dsaii_core.catalog import ImageClass
from dsaii_core.collect.dedupe import (NEAR_DUPLICATE_BITS, ImageHashes, grey_thumbnail, image_hashes, item_hashes,
                                      signatures_alike, thumbnail_signature)
from dsaii_core.workspace import Workspace

def _signature(image: np.ndarray) -> np.ndarray:
    return thumbnail_signature(grey_thumbnail(image))


@dataclass
class _Seen:
    item_id: int
    name: str | None  # the name it was imported under in this run; None for earlier items (looked up)
    signature: np.ndarray | None = None


class NearDuplicates:
    """The normal images of one class (candidates and kept ones), and which of them a new image repeats."""

    def __init__(self, ws: Workspace, cls: ImageClass, threshold: int = NEAR_DUPLICATE_BITS):
        self.ws, self.threshold = ws, threshold
        self._seen: list[_Seen] = []
        self._pixels: dict[str, int] = {}  # pixel digest → index in _seen
        self._hashes = np.zeros((64, 2), np.uint64)  # pHash, dHash per image seen (grown by doubling)
        for item in ws.catalog.items(cls.id, role="normal", statuses=("candidate", "kept")):
            self._append(_Seen(item.id, None), item_hashes(ws, item))

    def _append(self, seen: _Seen, hashes: ImageHashes) -> None:
        if len(self._seen) == len(self._hashes):
            self._hashes = np.concatenate([self._hashes, np.zeros_like(self._hashes)])
        self._hashes[len(self._seen)] = (hashes.phash, hashes.dhash)
        self._pixels.setdefault(hashes.pixels, len(self._seen))
        self._seen.append(seen)

    def _signature(self, seen: _Seen) -> np.ndarray:
        if seen.signature is None:
            seen.signature = _signature(self.ws.read_image(self.ws.catalog.item(seen.item_id)))
        return seen.signature

    def match(self, image: np.ndarray, hashes: ImageHashes | None = None) -> tuple[str, str] | None:
        """('exact' | 'near', the name of the image it repeats) or None for a new image.

        'exact' = the same pixels (another encoding of one picture); 'near' = alike after resizing or
        re-encoding.
        """
        hashes = hashes or image_hashes(image)
        if hashes.pixels in self._pixels:
            return "exact", self.name(self._seen[self._pixels[hashes.pixels]])
        known = self._hashes[:len(self._seen)]
        bits = np.maximum(np.bitwise_count(known[:, 0] ^ np.uint64(hashes.phash)),
                          np.bitwise_count(known[:, 1] ^ np.uint64(hashes.dhash)))
        candidates = np.flatnonzero(bits <= self.threshold)
        if candidates.size:
            signature = _signature(image)
            for index in candidates[np.argsort(bits[candidates], kind="stable")]:
                if signatures_alike(self._signature(self._seen[index]), signature):
                    return "near", self.name(self._seen[index])
        return None

    def add(self, item_id: int, hashes: ImageHashes, name: str, image: np.ndarray | None = None) -> None:
        self._append(_Seen(item_id, name, None if image is None else _signature(image)), hashes)

    def name(self, seen: _Seen) -> str:
        if seen.name is None:
            source = self.ws.catalog.provenance(seen.item_id)
            seen.name = source.original_name or source.title or self.ws.catalog.item(seen.item_id).file
        return seen.name
