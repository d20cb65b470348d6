"""Crawl as a job: search an engine, download safely, drop duplicates and add the rest as candidates.

Starting the job runs the engine's search (an API request, a browser page, or a folder ranked) and makes
each URL it found one job item, except URLs an earlier crawl of the class settled; the reference image is
kept in the workspace cache. An item's `compute` downloads (the local engine: reads) and decodes the image,
hashes it and scores its similarity to the reference, staging it in the workspace; its `commit` drops
duplicates and adds the rest as candidates with provenance, until the requested number is added.

Every URL's outcome is the item's result and is recorded (catalog `crawl_urls`), so a crawl that is stopped
or killed resumes where it was, as the same job or as a new crawl: URLs already added, duplicated or
rejected for good are not fetched again; transient failures (timeouts, 5xx) are retried by the next crawl.
Files go only into the workspace (names come from the catalog, never from a URL); temporary browser
profiles live under the workspace cache.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from dsaii_core import imageio, jobs
from dsaii_core.atomic import atomic_write_bytes, sha256_bytes
from dsaii_core.catalog import ImageClass
from dsaii_core.collect.dedupe import NEAR_DUPLICATE_BITS, DuplicateIndex, ImageHashes, class_index, image_hashes
from dsaii_core.collect.downloader import Download, Downloader, DownloadSettings
from dsaii_core.collect.engines import DEFAULT_ENGINE, load_engine
from dsaii_core.collect.similarity import CnnEmbedder, Ranker
from dsaii_core.errors import DsaiiError
from dsaii_core.workspace import StagedImage, Workspace

JOB_KIND = "crawl"
FINAL_STATES = ("added", "duplicate", "rejected")
SEARCH_OVERSAMPLE = 2  # ask the engine for more than needed: some fail, some are duplicates
ENOUGH = "enough candidates added already"


@dataclass(frozen=True)
class UrlOutcome:
    """What became of one candidate URL."""
    url: str
    state: str  # added | duplicate | rejected | failed (retried on the next crawl) | skipped (enough added)
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
        skipped = len(self._of("skipped"))
        return (f"{self.engine}: {self.found} found, {len(self.added)} added as candidates, "
                f"{len(self.duplicates)} duplicates, {len(self.errors)} rejected or failed, "
                f"{self.already_done} already done earlier" + (f", {skipped} not needed" if skipped else ""))


def start_crawl_job(ws: Workspace, cls: ImageClass, *, reference: np.ndarray | None = None, query: str | None = None,
                    engine: str | Path = DEFAULT_ENGINE, max_images: int = 50,
                    allow_private: bool | Sequence[str] = False, settings: DownloadSettings | None = None,
                    base_url: str | None = None, folder: Path | None = None, cnn_weights: Path | None = None,
                    near_duplicate_bits: int = NEAR_DUPLICATE_BITS) -> jobs.Job:
    """A queued crawl job adding up to `max_images` new candidate images of `cls`; searches `engine` now.

    Keyword engines use `query` (the class name when only a reference is given); reverse-image and
    local-folder engines use `reference`. Candidates get a similarity score to the reference
    (info['similarity']) for ranking on the Curate page.
    """
    if reference is None and not query:
        raise DsaiiError("give a reference image or a query")
    if max_images < 1:
        raise DsaiiError("--max must be at least 1")
    if cnn_weights is not None and not Path(cnn_weights).is_file():
        raise DsaiiError(f"{cnn_weights}: no such CNN checkpoint (a torchvision resnet18 state dict)")
    settings = replace(settings or DownloadSettings(), allow_private=allow_private)
    with Downloader(settings) as downloader:
        found = load_engine(engine, downloader=downloader, base_url=base_url, folder=folder, cache_dir=ws.cache_dir)
        if found.needs == "query" and not query:
            query = cls.name
        if found.needs == "reference" and reference is None:
            raise DsaiiError(f"engine {found.name} needs a reference image")
        done = {row.url for row in ws.catalog.crawl_urls(cls.id, FINAL_STATES)}
        candidates = found.search(reference=reference, query=query, limit=SEARCH_OVERSAMPLE * max_images + len(done))
    todo: dict[str, dict] = {}
    for c in candidates:  # the first of repeated URLs wins, in the engine's order
        if c.url not in done:
            todo.setdefault(c.url, {"page_url": c.page_url, "title": c.title, "license": c.license,
                                    "attribution": c.attribution, "engine": c.engine, "query": c.query})
    params = {"engine": found.name, "query": query, "max_images": max_images, "found": len(candidates),
              "already_done": sum(c.url in done for c in candidates), "candidates": todo,
              "download": dataclasses.asdict(settings), "near_duplicate_bits": near_duplicate_bits,
              "folder": str(found.folder) if hasattr(found, "folder") else None,
              "reference": _keep_reference(ws, reference) if reference is not None else None,
              "cnn_weights": str(Path(cnn_weights).resolve()) if cnn_weights else None}
    return jobs.create_job(ws.catalog, JOB_KIND, list(todo), params, cls.id)


def _keep_reference(ws: Workspace, reference: np.ndarray) -> str:
    """The reference image saved in the workspace cache, by content; its workspace-relative path."""
    png = imageio.encode_png(reference)
    relative = f"{ws.cache_dir.relative_to(ws.root).as_posix()}/crawl/{sha256_bytes(png)[:32]}.png"
    if not ws.path(relative).is_file():
        atomic_write_bytes(ws.path(relative), png)
    return relative


def crawl_report(ws: Workspace, job: jobs.Job) -> CrawlReport:
    """What a crawl job did so far: each settled URL's outcome, in the order the engine found them."""
    spec = job.params
    report = CrawlReport(spec["engine"], spec.get("query"), spec["found"], spec["already_done"])
    report.outcomes = [UrlOutcome(url, **json.loads(result)) for url, result in jobs.item_results(ws.catalog, job.id)
                       if result]
    report.outcomes += [UrlOutcome(url, "failed", error) for url, error in
                        jobs.item_errors(ws.catalog, job.id, limit=job.total) if job.state in ("done", "failed")]
    return report


def crawl(ws: Workspace, cls: ImageClass, *, executor: jobs.Executor | None = None,
          progress: Callable[[float], None] = lambda f: None, **options) -> CrawlReport:
    """Start a crawl job (options: see start_crawl_job) and run it in this process; what it did."""
    job = start_crawl_job(ws, cls, **options)
    return crawl_report(ws, jobs.run_job(ws, job.id, executor=executor, progress=progress))


@dataclass(frozen=True)
class _Fetched:
    """One URL's download, checked, hashed, scored and staged; or why not."""
    url: str
    error: str | None = None
    permanent: bool = True
    skipped: bool = False
    image: StagedImage | None = None
    sha256: str | None = None   # of the bytes as they arrived
    content_type: str | None = None
    hashes: ImageHashes | None = None
    similarity: float | None = None


class CrawlTask(jobs.Task):
    """The 'crawl' job kind: compute = download + decode + hashes + similarity of a URL, staged;
    commit = the staged image added as a candidate with provenance, or the reason it is not. Its downloads run on
    threads in the driver's process: the politeness per host (rate limit, robots.txt) lives there."""
    in_driver = True

    def __init__(self, ws: Workspace, job: jobs.Job):
        self.ws, self.job_id, self.spec = ws, job.id, job.params
        download = {**self.spec["download"]}
        if isinstance(download["allow_private"], list):  # networks (JSON made the tuple a list)
            download["allow_private"] = tuple(download["allow_private"])
        self.settings = DownloadSettings(**download)
        self.batch_size = max(1, self.settings.workers)  # a batch downloads on the downloader's threads
        self.cls = ws.catalog.class_by_id(job.class_id)
        self.max_images = int(self.spec["max_images"])
        self.added = sum(json.loads(r).get("state") == "added"
                         for _, r in jobs.item_results(ws.catalog, job.id) if r)
        self._downloader: Downloader | None = None
        self._local = None
        self._ranker: Ranker | None = None
        self._index: DuplicateIndex | None = None

    # -- compute (pure: reads the web or the folder, writes only the staging folder) ---------------
    def _fetch(self, urls: list[str]) -> list[Download]:
        if self.spec.get("folder"):
            from dsaii_core.collect.engines.local import LocalFolderEngine
            self._local = self._local or LocalFolderEngine({"name": self.spec["engine"]}, Path(self.spec["folder"]))
            return [self._local.read(url) for url in urls]
        self._downloader = self._downloader or Downloader(self.settings)
        return list(self._downloader.download_many(urls))

    def _ranking(self) -> Ranker | None:
        if self._ranker is None and self.spec.get("reference"):
            weights = self.spec.get("cnn_weights")
            self._ranker = Ranker(imageio.read_image(self.ws.path(self.spec["reference"])),
                                  CnnEmbedder(Path(weights)) if weights else None)
        return self._ranker

    def compute(self, keys: Sequence[str], seeds: Sequence[int]) -> list[object]:
        if self.added >= self.max_images:  # known where commits run in this process: no download needed
            return [_Fetched(url, skipped=True) for url in keys]
        outputs: list[object] = []
        for download in self._fetch(list(keys)):
            if not download.ok:
                outputs.append(_Fetched(download.url, download.error, download.permanent))
                continue
            ranker = self._ranking()
            name = hashlib.sha256(download.url.encode()).hexdigest()[:24]
            outputs.append(_Fetched(download.url, image=self.ws.stage_image(download.image, self.job_id, name),
                                    sha256=download.sha256, content_type=download.content_type,
                                    hashes=image_hashes(download.image),
                                    similarity=round(ranker.score(download.image), 4) if ranker else None))
        return outputs

    # -- commit (in the driver, one URL at a time, in the engine's order) -------------------------
    def commit(self, key: str, seed: int, output: object) -> str:
        assert isinstance(output, _Fetched)
        outcome = self._take(key, output)
        return json.dumps({"state": outcome.state, "reason": outcome.reason, "item_id": outcome.item_id})

    def _take(self, url: str, fetched: _Fetched) -> UrlOutcome:
        """Record one download: a new candidate item with provenance, a duplicate, an error, or not needed."""
        catalog, cls = self.ws.catalog, self.cls
        candidate = self.spec["candidates"][url]
        engine = candidate["engine"]
        if fetched.skipped or (fetched.error is None and self.added >= self.max_images):
            self._unstage(fetched)
            return UrlOutcome(url, "skipped", ENOUGH)
        if fetched.error is not None:
            state = "rejected" if fetched.permanent else "failed"
            catalog.record_crawl_url(cls.id, url, state, fetched.error, engine=engine)
            return UrlOutcome(url, state, fetched.error)
        if self._index is None:
            self._index = class_index(self.ws, cls, int(self.spec["near_duplicate_bits"]))
        match = self._index.match(fetched.hashes)
        if match is not None:
            self._unstage(fetched)
            reason = f"{match[0]} duplicate of item {match[1]}" if match[1] else f"{match[0]} duplicate in this crawl"
            catalog.record_crawl_url(cls.id, url, "duplicate", reason, match[1], engine=engine)
            return UrlOutcome(url, "duplicate", reason, match[1])
        info = {**fetched.hashes.as_info(), "content_type": fetched.content_type}
        if fetched.similarity is not None:
            info["similarity"] = fetched.similarity
        added = self.ws.add_image(cls, fetched.image, role="normal", status="candidate", origin=f"crawl:{engine}",
                                  sha256=fetched.sha256, info=info)
        if added.item is None:  # same bytes already in the class
            self._unstage(fetched)
            self._index.add(fetched.hashes)
            catalog.record_crawl_url(cls.id, url, "duplicate", added.skipped, engine=engine)
            return UrlOutcome(url, "duplicate", added.skipped)
        catalog.set_provenance(added.item.id, source_url=url, page_url=candidate["page_url"],
                               license=candidate["license"], attribution=candidate["attribution"], engine=engine,
                               query=candidate["query"], title=candidate["title"], fetched_at=time.time())
        catalog.record_crawl_url(cls.id, url, "added", None, added.item.id, engine=engine)
        self._index.add(fetched.hashes, added.item.id)
        self.added += 1
        return UrlOutcome(url, "added", None, added.item.id)

    def _unstage(self, fetched: _Fetched) -> None:
        if fetched.image is not None:
            self.ws.path(fetched.image.file).unlink(missing_ok=True)
