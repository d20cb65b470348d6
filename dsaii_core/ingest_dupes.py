"""Near duplicates among a class's normal images, found while importing so the report can name them.

Perceptual hashes (`collect.dedupe`, as the crawl uses) propose candidates. On industrial photos they
are not enough: parts from one production line are aligned and alike (different BSData crops measure
0 bits apart, MVTec transistors 4, against the crawl's threshold of 8). So a candidate is confirmed by a
32×32 grey thumbnail with its mean removed: copies re-encoded as JPEG, halved or brightened differ from
their original by ≤ 0.8 grey levels on average here, different parts of the same data sets by ≥ 2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from dsaii_core.catalog import ImageClass
from dsaii_core.collect.dedupe import NEAR_DUPLICATE_BITS, ImageHashes, image_hashes, item_hashes
from dsaii_core.workspace import Workspace

THUMB_SIZE = 32
THUMB_DIFF = 1.5  # mean absolute grey-level difference of the thumbnails, at most


def thumbnail_signature(image: np.ndarray) -> np.ndarray:
    """A 32×32 grey thumbnail (box filter) with its mean removed: blind to size, encoding and brightness."""
    grey = Image.fromarray(image).convert("L").resize((THUMB_SIZE, THUMB_SIZE), Image.BOX)
    signature = np.asarray(grey, dtype=np.float32)
    return signature - signature.mean()


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
            seen.signature = thumbnail_signature(self.ws.read_image(self.ws.catalog.item(seen.item_id)))
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
            signature = thumbnail_signature(image)
            for index in candidates[np.argsort(bits[candidates], kind="stable")]:
                if float(np.abs(self._signature(self._seen[index]) - signature).mean()) <= THUMB_DIFF:
                    return "near", self.name(self._seen[index])
        return None

    def add(self, item_id: int, hashes: ImageHashes, name: str, image: np.ndarray | None = None) -> None:
        self._append(_Seen(item_id, name, None if image is None else thumbnail_signature(image)), hashes)

    def name(self, seen: _Seen) -> str:
        if seen.name is None:
            source = self.ws.catalog.provenance(seen.item_id)
            seen.name = source.get("original_name") or source.get("title") or self.ws.catalog.item(seen.item_id).file
        return seen.name
