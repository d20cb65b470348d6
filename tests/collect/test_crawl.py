import hashlib
import tempfile
from dataclasses import replace

import pytest

from dsaii_core import imageio, jobs
from dsaii_core.collect.crawl import crawl, crawl_report, start_crawl_job
from dsaii_core.errors import DsaiiError
from dsaii_core.workspace import Workspace
from tests.collect.conftest import LOOPBACK

GOOD = ["/img/coffee.png", "/img/chelsea.png", "/img/rocket.png", "/img/astronaut.png"]
HOSTILE = {
    "/mirror/coffee-copy.png": "exact duplicate",
    "/mirror/coffee-near.jpg": "near duplicate",
    "/html-as.png": "not an image",
    "/huge.png": "over the size cap",
    "/redirect/private": "private address 10.0.0.1",
    "/redirect/link-local": "link-local address 169.254.169.254",
    "/private/secret.png": "robots.txt forbids it",
    "/noai.png": "X-Robots-Tag says noai",
    "/missing.png": "HTTP 404",
    "/img/..%2F..%2Fescape.png": "HTTP 404",
}


@pytest.fixture
def ws(tmp_path) -> Workspace:
    return Workspace.create(tmp_path / "ws")


def served_sha(web, path: str) -> str:
    return hashlib.sha256(web.resources[path].body).hexdigest()


def run(ws, web, settings, **kwargs):
    cls = ws.add_class("things")
    options = dict(engine="openverse", base_url=web.url(""), query="things", max_images=20,
                   allow_private=LOOPBACK, settings=settings)
    return cls, crawl(ws, cls, **{**options, **kwargs})


def test_crawl_adds_good_images_with_full_provenance_and_rejects_hostile_ones(ws, web, fast_settings):
    web.use_results(GOOD + list(HOSTILE))
    reference = web.images["coffee"]
    cls, report = run(ws, web, fast_settings, reference=reference)
    items = ws.catalog.items(cls.id)
    assert len(items) == len(GOOD) == len(report.added)
    assert {i.status for i in items} == {"candidate"} and {i.origin for i in items} == {"crawl:openverse"}
    for item, path in zip(items, GOOD):
        source = ws.catalog.provenance(item.id)
        assert source.source_url == web.url(path) and source.page_url.startswith(web.url("/page/"))
        assert source.license == "CC BY 4.0" and "is licensed under" in source.attribution
        assert source.engine == "openverse" and source.query == "things" and source.fetched_at > 0
        assert source.title.startswith("result ")
        assert item.sha256 == served_sha(web, path)
        assert -1 <= item.info["similarity"] <= 1 and len(item.info["phash"]) == 16
    assert items[0].info["similarity"] > max(i.info["similarity"] for i in items[1:])  # the reference itself
    reasons = {o.url.removeprefix(web.url("")): (o.state, o.reason) for o in report.outcomes}
    for path, expected in HOSTILE.items():
        assert expected in reasons[path][1], (path, reasons[path])
    assert reasons["/mirror/coffee-near.jpg"][0] == "duplicate"
    assert [o.url for o in report.outcomes] == [web.url(p) for p in GOOD + list(HOSTILE)]  # in the engine's order
    recorded = {row.url: row.state for row in ws.catalog.crawl_urls(cls.id)}
    assert recorded[web.url("/huge.png")] == "rejected" and recorded[web.url(GOOD[0])] == "added"


def test_images_already_in_the_class_count_as_duplicates(ws, web, fast_settings):
    cls = ws.add_class("things")
    ws.add_image(cls, imageio.read_image(web.resources["/mirror/coffee-near.jpg"].body))  # an earlier import
    web.use_results(GOOD)
    report = crawl(ws, cls, engine="openverse", base_url=web.url(""), query="x", allow_private=LOOPBACK,
                   settings=fast_settings)
    assert len(report.added) == 3 and "near duplicate of item 1" in report.duplicates[0].reason


def test_max_images_stops_the_crawl(ws, web, fast_settings):
    web.use_results(GOOD + ["/img/brick.png", "/img/grass.png"])
    before = len(web.requests)
    cls, report = run(ws, web, fast_settings, max_images=2)  # 3 URLs per batch
    assert len(report.added) == 2 and len(ws.catalog.items(cls.id)) == 2
    assert report.found == 4  # twice as many as asked for
    assert [o.state for o in report.outcomes] == ["added", "added", "skipped", "skipped"]
    fetched = {path for path, _ in web.requests[before:]}
    assert GOOD[2] in fetched and GOOD[3] not in fetched  # the batch after the one that added enough: not fetched
    assert "2 not needed" in report.summary()
    assert len(ws.catalog.crawl_urls(cls.id)) == 2  # a later crawl may still take the URLs not needed now


def test_an_interrupted_crawl_resumes_without_fetching_done_urls_again(ws, web, fast_settings):
    web.use_results(GOOD + ["/missing.png", "/img/brick.png"])
    cls = ws.add_class("things")
    options = dict(engine="openverse", base_url=web.url(""), query="x", allow_private=LOOPBACK,
                   settings=replace(fast_settings, workers=1))  # one URL per batch

    def stop_after_two(fraction):
        if len(ws.catalog.crawl_urls(cls.id)) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        crawl(ws, cls, progress=stop_after_two, **options)
    assert len(ws.catalog.items(cls.id)) == 2
    before = len(web.requests)
    report = crawl(ws, cls, **options)  # a new crawl: the URLs the first one settled are not fetched again
    fetched = [path for path, _ in web.requests[before:] if not path.startswith(("/v1/", "/robots"))]
    assert report.already_done == 2 and len(report.added) == 3
    assert GOOD[0] not in fetched and GOOD[1] not in fetched and GOOD[2] in fetched
    assert len(ws.catalog.items(cls.id)) == 5
    again = crawl(ws, cls, **options)
    assert again.already_done == 6 and not again.outcomes  # everything settled: nothing fetched


def test_a_cancelled_crawl_job_resumed_adds_what_an_uninterrupted_one_does(web, fast_settings, tmp_path):
    web.use_results(GOOD + ["/missing.png", "/mirror/coffee-copy.png", "/img/brick.png"])
    settings = replace(fast_settings, workers=2)
    options = dict(engine="openverse", base_url=web.url(""), query="x", allow_private=LOOPBACK, settings=settings,
                   reference=web.images["coffee"])

    def outcome(ws, job):
        items = ws.catalog.items(ws.get_class("things").id)
        report = crawl_report(ws, jobs.get_job(ws.catalog, job.id))
        return ([(i.file, i.sha256, i.info) for i in items],
                [(o.url, o.state, o.reason) for o in report.outcomes], report.summary())

    whole = Workspace.create(tmp_path / "whole")
    job = start_crawl_job(whole, whole.add_class("things"), **options)
    assert jobs.run_job(whole, job.id).state == "done"

    ws = Workspace.create(tmp_path / "cut")
    cut = start_crawl_job(ws, ws.add_class("things"), **options)
    before = len(web.requests)

    def cancel_after_one_batch(fraction):
        if 0 < fraction < 1:
            jobs.request_cancel(ws.catalog, cut.id)

    assert jobs.run_job(ws, cut.id, progress=cancel_after_one_batch).state == "cancelled"
    assert 0 < len(ws.catalog.items()) < 4
    first = {path for path, _ in web.requests[before:]}
    jobs.prepare_resume(ws.catalog, cut.id)
    before = len(web.requests)
    assert jobs.run_job(ws, cut.id).state == "done"
    assert not first & {path for path, _ in web.requests[before:] if path.startswith("/img/")}  # none fetched twice
    assert outcome(ws, cut) == outcome(whole, job)
    assert not (ws.root / "staging").exists() or not any((ws.root / "staging").rglob("*.png"))


def test_transient_failures_are_retried_on_the_next_run(ws, web, fast_settings):
    web.use_results(["/error500"])
    cls, report = run(ws, web, fast_settings)
    assert report.errors[0].state == "failed"
    again = crawl(ws, cls, engine="openverse", base_url=web.url(""), query="x", allow_private=LOOPBACK,
                  settings=fast_settings)
    assert again.already_done == 0 and again.errors[0].state == "failed"


def test_the_crawl_never_writes_outside_the_workspace(ws, web, fast_settings, tmp_path, monkeypatch):
    scratch = tmp_path / "system-temp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    web.use_results(GOOD + list(HOSTILE))
    outside_before = {p for p in tmp_path.rglob("*") if not p.is_relative_to(ws.root)}
    run(ws, web, fast_settings)
    outside_after = {p for p in tmp_path.rglob("*") if not p.is_relative_to(ws.root)}
    assert outside_after == outside_before and not any(scratch.iterdir())
    files = [p.relative_to(ws.root).as_posix() for p in ws.root.rglob("*") if p.is_file()]
    assert all(f.startswith(("classes/things/normal/", "dsaii.sqlite", ".dsaii-workspace")) for f in files), files


def test_without_permission_the_crawler_does_not_reach_loopback(ws, web, fast_settings):
    web.use_results(GOOD)
    cls = ws.add_class("things")
    with pytest.raises(DsaiiError, match="refused loopback address 127.0.0.1"):
        crawl(ws, cls, engine="openverse", base_url=web.url(""), query="x", settings=fast_settings)


def test_reference_only_crawl_of_a_keyword_engine_searches_for_the_class_name(ws, web, fast_settings):
    web.use_results(GOOD[:1])
    cls, report = run(ws, web, fast_settings, query=None, reference=web.images["rocket"])
    assert report.query == "things"


def test_local_folder_crawl_adds_the_most_similar_images(ws, web, fast_settings, tmp_path):
    folder = tmp_path / "photos"
    for name, array in web.images.items():
        imageio.write_png(folder / f"{name}.png", array)
    cls, report = run(ws, web, fast_settings, engine="local", folder=folder, query=None,
                      reference=web.images["astronaut"], max_images=3)
    items = ws.catalog.items(cls.id)
    assert len(items) == 3 and ws.catalog.provenance(items[0].id).source_url == (folder / "astronaut.png").as_uri()
    assert ws.catalog.provenance(items[0].id).engine == "local"
