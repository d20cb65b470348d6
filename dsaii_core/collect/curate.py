"""Curation of normal candidates: pages of the grid, near-duplicate groups, keep / drop, undo.

Everything here reads catalog rows only (hashes and similarity live in item.info), so a page of
the Curate grid costs one query plus the thumbnails of that page, however many candidates exist.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

from dsaii_core.catalog import CurationRow, ImageClass
from dsaii_core.collect.dedupe import NEAR_DUPLICATE_BITS, ImageHashes, near_duplicate_groups
from dsaii_core.errors import DsaiiError
from dsaii_core.workspace import Workspace

CURATE_STATUSES = ("candidate", "kept", "dropped")
NO_LICENSE = ""  # filter value for images without a known license
SORTS = ("groups", "similarity", "newest")


@dataclass(frozen=True)
class CandidateFilter:
    """Which normal images to show; None means any."""
    statuses: tuple[str, ...] | None = ("candidate",)
    licenses: tuple[str, ...] | None = None
    engines: tuple[str, ...] | None = None


@dataclass(frozen=True)
class CandidateView:
    """One tile of the grid."""
    id: int
    file: str
    status: str
    license: str | None
    engine: str | None
    title: str | None
    source_url: str | None
    page_url: str | None
    attribution: str | None
    similarity: float | None
    group: int
    group_size: int

    @property
    def badge(self) -> tuple[str, str]:
        return license_badge(self.license)


@dataclass(frozen=True)
class CandidatePage:
    items: list[CandidateView]
    total: int
    page: int
    pages: int
    groups: int = 0
    duplicates: int = 0


@dataclass(frozen=True)
class Facets:
    """Values present in a class, with counts, for the filter widgets."""
    statuses: dict[str, int] = field(default_factory=dict)
    licenses: dict[str, int] = field(default_factory=dict)
    engines: dict[str, int] = field(default_factory=dict)


def license_badge(license: str | None) -> tuple[str, str]:
    """(short label, colour) for a license: green public domain, blue reusable, orange restricted, grey unknown."""
    if not license:
        return "no license", "gray"
    text = license.upper()
    words = set(re.split(r"[\s\-_/]+", text))
    if "CC0" in words or "PUBLIC DOMAIN" in text or words & {"PD", "PDM"}:
        return license, "green"
    if words & {"NC", "ND"}:
        return license, "orange"
    if "CC" in words or "GFDL" in words or text.startswith("CC"):
        return license, "blue"
    return license, "gray"


def facets(ws: Workspace, cls: ImageClass) -> Facets:
    """Counts of normal images by status, license and engine (for the filters)."""
    rows = ws.catalog.candidate_rows(cls.id, statuses=CURATE_STATUSES)
    count = lambda key: dict(sorted(_counts(getattr(r, key) or NO_LICENSE for r in rows).items()))  # noqa: E731
    return Facets(count("status"), count("license"), count("engine"))


def _counts(values) -> dict[str, int]:
    out: dict[str, int] = {}
    for value in values:
        out[value] = out.get(value, 0) + 1
    return out


def candidate_page(ws: Workspace, cls: ImageClass, filters: CandidateFilter = CandidateFilter(), *,
                   page: int = 0, per_page: int = 40, sort: str = "groups",
                   near_duplicate_bits: int = NEAR_DUPLICATE_BITS) -> CandidatePage:
    """One page of the grid: filtered images, near-duplicate groups kept together (sort='groups'),
    or by similarity to the reference, or newest first."""
    if sort not in SORTS:
        raise DsaiiError(f"sort must be one of {SORTS}")
    rows = ws.catalog.candidate_rows(cls.id, filters.statuses, filters.licenses, filters.engines)
    hashes = [ImageHashes.from_info(r.info) for r in rows]
    labels = near_duplicate_groups(hashes, near_duplicate_bits)
    sizes = np.bincount(labels, minlength=len(rows)) if rows else np.zeros(0, int)
    similarity = np.array([-np.inf if r.similarity is None else r.similarity for r in rows], dtype=float)
    position = np.arange(len(rows))
    if sort == "groups":  # groups in order of their best member's similarity, members by similarity
        best = np.full(len(rows), -np.inf)
        np.maximum.at(best, labels, similarity)
        order = np.lexsort((position, -similarity, labels, -best[labels]))
    elif sort == "similarity":
        order = np.lexsort((position, -similarity))
    else:
        order = position[::-1]
    pages = max(1, math.ceil(len(rows) / per_page))
    page = min(max(page, 0), pages - 1)
    chosen = order[page * per_page:(page + 1) * per_page]
    items = [_view(rows[i], int(labels[i]), int(sizes[labels[i]])) for i in chosen]
    multi = sizes[sizes > 1]
    return CandidatePage(items, len(rows), page, pages, groups=int(multi.size), duplicates=int(multi.sum() - multi.size))


def _view(row: CurationRow, group: int, group_size: int) -> CandidateView:
    return CandidateView(row.id, row.file, row.status, row.license, row.engine, row.title, row.source_url,
                         row.page_url, row.attribution, row.similarity, group, group_size)


def decide(ws: Workspace, item_ids: list[int], status: str, user: str = "") -> int:
    """Keep / drop / reset (status 'kept', 'dropped', 'candidate') images as one undoable decision."""
    if status not in CURATE_STATUSES:
        raise DsaiiError(f"a curation decision is one of {CURATE_STATUSES}, not '{status}'")
    return ws.catalog.set_status_batch({status: list(item_ids)}, user)


def keep_most_similar(ws: Workspace, cls: ImageClass, count: int, user: str = "") -> int:
    """Keep the `count` candidates most similar to the reference and drop the other candidates (one decision)."""
    rows = ws.catalog.candidate_rows(cls.id, statuses=("candidate",))
    rows.sort(key=lambda r: (math.inf if r.similarity is None else -r.similarity, r.id))
    keep, drop = [r.id for r in rows[:count]], [r.id for r in rows[count:]]
    return ws.catalog.set_status_batch({"kept": keep, "dropped": drop}, user)


def drop_near_duplicates(ws: Workspace, cls: ImageClass, near_duplicate_bits: int = NEAR_DUPLICATE_BITS,
                         user: str = "") -> int:
    """In every near-duplicate group of candidates and kept images, drop all candidates but the best one
    (a kept image, else the most similar); one decision."""
    rows = ws.catalog.candidate_rows(cls.id, statuses=("candidate", "kept"))
    labels = near_duplicate_groups([ImageHashes.from_info(r.info) for r in rows], near_duplicate_bits)
    best: dict[int, CurationRow] = {}
    rank = lambda r: (r.status == "kept", -math.inf if r.similarity is None else r.similarity, -r.id)  # noqa: E731
    for row, label in zip(rows, labels):
        if label not in best or rank(row) > rank(best[label]):
            best[label] = row
    drop = [r.id for r, label in zip(rows, labels) if r.status == "candidate" and best[label] is not r]
    return ws.catalog.set_status_batch({"dropped": drop}, user)

