"""Crawl: search an engine, download safely, drop duplicates and add the rest as candidates.

Every URL's outcome is recorded (catalog `crawl_urls`), so a crawl that is stopped or killed
resumes where it was: URLs already added, duplicated or rejected for good are not fetched again;
transient failures (timeouts, 5xx) are retried. Each new image, its provenance and its URL record
are written in one transaction. Files go only into the workspace (names come from the catalog,
never from a URL); temporary browser profiles live under the workspace cache.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from dsaii_core.catalog import ImageClass
from dsaii_core.collect.dedupe import NEAR_DUPLICATE_BITS, DuplicateIndex, class_index, image_hashes
from dsaii_core.collect.downloader import Download, Downloader, DownloadSettings
from dsaii_core.collect.engines import DEFAULT_ENGINE, Candidate, Engine, load_engine
from dsaii_core.collect.similarity import CnnEmbedder, Ranker
from dsaii_core.errors import DsaiiError
from dsaii_core.workspace import Workspace

FINAL_STATES = ("added", "duplicate", "rejected")
SEARCH_OVERSAMPLE = 2  # ask the engine for more than needed: some fail, some are duplicates


@dataclass(frozen=True)
class UrlOutcome:
    """What became of one candidate URL."""
    url: str
    state: str  # added | duplicate | rejected | failed (retried on the next run)
    reason: str | None = None
    item_id: int | None = None


@dataclass
class CrawlReport:
    engine: str
    query: str | None
    found: int = 0
    already_done: int = 0
    outcomes: list[UrlOutcome] = field(default_factory=list)

    def _of(self, *states: str) -> list[UrlOutcome]:
        return [o for o in self.outcomes if o.state in states]

    @property
    def added(self) -> list[int]:
        return [o.item_id for o in self._of("added")]

    @property
    def duplicates(self) -> list[UrlOutcome]:
        return self._of("duplicate")

    @property
    def errors(self) -> list[UrlOutcome]:
        return self._of("rejected", "failed")

    def summary(self) -> str:
        return (f"{self.engine}: {self.found} found, {len(self.added)} added as candidates, "
                f"{len(self.duplicates)} duplicates, {len(self.errors)} rejected or failed, "
                f"{self.already_done} already done earlier")


def crawl(ws: Workspace, cls: ImageClass, *, reference: np.ndarray | None = None, query: str | None = None,
          engine: str | Path | Engine = DEFAULT_ENGINE, max_images: int = 50,
          allow_private: bool | Sequence[str] = False, settings: DownloadSettings | None = None,
          base_url: str | None = None, folder: Path | None = None, embedder: CnnEmbedder | None = None,
          near_duplicate_bits: int = NEAR_DUPLICATE_BITS, progress: Callable[[float], None] = lambda f: None,
          on_outcome: Callable[[UrlOutcome], None] = lambda o: None) -> CrawlReport:
    """Add up to `max_images` new candidate images of `cls` found by `engine`.

    Keyword engines use `query` (the class name when only a reference is given); reverse-image and
    local-folder engines use `reference`. Candidates get a similarity score to the reference
    (info['similarity']) for ranking on the Curate page.
    """
    if reference is None and not query:
        raise DsaiiError("give a reference image or a query")
    if max_images < 1:
        raise DsaiiError("--max must be at least 1")
    settings = replace(settings or DownloadSettings(), allow_private=allow_private)
    with Downloader(settings) as downloader:
        if not hasattr(engine, "search"):
            engine = load_engine(engine, downloader=downloader, base_url=base_url, folder=folder,
                                 cache_dir=ws.cache_dir)
        if engine.needs == "query" and not query:
            query = cls.name
        if engine.needs == "reference" and reference is None:
            raise DsaiiError(f"engine {engine.name} needs a reference image")
        done = {row["url"] for row in ws.catalog.crawl_urls(cls.id, FINAL_STATES)}
        progress(0.02)
        candidates = engine.search(reference=reference, query=query,
                                   limit=SEARCH_OVERSAMPLE * max_images + len(done))
        report = CrawlReport(engine.name, query, found=len(candidates))
        todo: dict[str, Candidate] = {}
        for candidate in candidates:
            if candidate.url in done:
                report.already_done += 1
            else:
                todo.setdefault(candidate.url, candidate)
        progress(0.1)
        ranker = Ranker(reference, embedder) if reference is not None else None
        index = class_index(ws, cls, near_duplicate_bits)
        fetch = getattr(engine, "download_many", downloader.download_many)
        total = max(len(todo), 1)
        for count, download in enumerate(fetch(list(todo)), 1):
            outcome = _take(ws, cls, todo[download.url], download, index, ranker)
            report.outcomes.append(outcome)
            on_outcome(outcome)
            progress(0.1 + 0.9 * count / total)
            if len(report.added) >= max_images:
                break
    progress(1.0)
    return report


def _take(ws: Workspace, cls: ImageClass, candidate: Candidate, download: Download, index: DuplicateIndex,
          ranker: Ranker | None) -> UrlOutcome:
    """Record one download: a new candidate item with provenance, a duplicate, or an error."""
    catalog = ws.catalog
    if not download.ok:
        state = "rejected" if download.permanent else "failed"
        catalog.record_crawl_url(cls.id, download.url, state, download.error, engine=candidate.engine)
        return UrlOutcome(download.url, state, download.error)
    hashes = image_hashes(download.image)
    match = index.match(hashes)
    if match is not None:
        reason = f"{match[0]} duplicate of item {match[1]}" if match[1] else f"{match[0]} duplicate in this crawl"
        catalog.record_crawl_url(cls.id, download.url, "duplicate", reason, match[1], engine=candidate.engine)
        return UrlOutcome(download.url, "duplicate", reason, match[1])
    info = {**hashes.as_info(), "content_type": download.content_type}
    if ranker is not None:
        info["similarity"] = round(ranker.score(download.image), 4)
    with catalog.transaction():
        added = ws.add_image(cls, download.image, role="normal", status="candidate",
                             origin=f"crawl:{candidate.engine}", sha256=download.sha256, info=info)
        if added.item is None:  # same bytes already in the class
            index.add(hashes)
            catalog.record_crawl_url(cls.id, download.url, "duplicate", added.skipped, engine=candidate.engine)
            return UrlOutcome(download.url, "duplicate", added.skipped)
        catalog.set_provenance(added.item.id, source_url=download.url, page_url=candidate.page_url,
                               license=candidate.license, attribution=candidate.attribution,
                               engine=candidate.engine, query=candidate.query, title=candidate.title,
                               fetched_at=time.time())
        catalog.record_crawl_url(cls.id, download.url, "added", None, added.item.id, engine=candidate.engine)
    index.add(hashes, added.item.id)
    return UrlOutcome(download.url, "added", None, added.item.id)
