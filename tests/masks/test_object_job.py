"""Object masks as a job: one process and a pool write the same bytes; a crash in `finish` loses nothing."""

from __future__ import annotations

import shutil

import pytest

from dsaii_core import jobs
from dsaii_core.masks import objects
from dsaii_core.masks.object_job import ObjectMaskTask, generate_with, job_reports, start_object_mask_job
from dsaii_core.masks.objects import ObjectMaskParams
from dsaii_core.workspace import Workspace


def object_files(ws: Workspace) -> list[tuple[str, str, str, float | None, dict]]:
    return [(m.file, ws.path(m.file).read_bytes().hex(), m.source, m.confidence,
             {k: v for k, v in m.params.items() if k != "job"}) for m in ws.catalog.masks(kind="object")]


def test_one_process_and_a_pool_write_the_same_masks(tiny_ws, tmp_path):
    shutil.copytree(tiny_ws.root, tmp_path / "pool")
    pool = Workspace.open(tmp_path / "pool")
    here = generate_with(tiny_ws, tiny_ws.classes())
    there = generate_with(pool, pool.classes(), executor=jobs.LocalExecutor(2, pool_after_s=0))
    assert object_files(pool) == object_files(tiny_ws) and len(object_files(tiny_ws)) == 3
    assert [r.summary() for r in here.values()] == [r.summary() for r in there.values()]
    assert len(list((tiny_ws.cache_dir / "object_candidates").glob("*.npz"))) == 3  # kept for the page's picker
    again = start_object_mask_job(tiny_ws, tiny_ws.classes())
    assert again.total == 0 and start_object_mask_job(tiny_ws, tiny_ws.classes(), ObjectMaskParams(redo=True)).total == 3


def test_a_worker_that_dies_while_writing_the_masks_resumes_without_duplicates(tiny_ws, monkeypatch):
    cls = tiny_ws.get_class("hazelnut")
    job = start_object_mask_job(tiny_ws, [cls], user="ana")
    real_write, written = ObjectMaskTask._write, []

    def dies_after_two(self, mask, job_id):
        if len(written) == 2:
            raise KeyboardInterrupt  # the worker is stopped between two masks
        real_write(self, mask, job_id)
        written.append(mask.item.id)

    monkeypatch.setattr(ObjectMaskTask, "_write", dies_after_two)
    with pytest.raises(KeyboardInterrupt):
        jobs.run_job(tiny_ws, job.id)
    assert len(tiny_ws.catalog.masks(kind="object")) == 2
    monkeypatch.setattr(ObjectMaskTask, "_write", real_write)
    assert jobs.get_job(tiny_ws.catalog, job.id).resumable  # every item done, the masks not all written
    jobs.prepare_resume(tiny_ws.catalog, job.id)
    assert jobs.run_job(tiny_ws, job.id).state == "done"
    items = objects.object_items(tiny_ws, cls)
    assert len(tiny_ws.catalog.masks(kind="object")) == 3 and all(tiny_ws.object_mask(i) for i in items)
    assert job_reports(tiny_ws, jobs.get_job(tiny_ws.catalog, job.id))[cls.id].written == 3


def test_an_unreadable_image_fails_alone(tiny_ws):
    cls = tiny_ws.get_class("hazelnut")
    first, *others = objects.object_items(tiny_ws, cls)
    tiny_ws.path(first.file).write_bytes(b"not a png")
    job = jobs.run_job(tiny_ws, start_object_mask_job(tiny_ws, [cls]).id)
    assert (job.state, job.done, job.failed) == ("failed", 2, 1)
    assert tiny_ws.object_mask(first) is None and all(tiny_ws.object_mask(i) for i in others)
