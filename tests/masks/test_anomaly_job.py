"""Anomaly masks as a job: the same masks, files and reports as generate_for_class; one undo step per class."""

from __future__ import annotations

from dsaii_core.masks.anomaly import class_params, generate_for_class
from dsaii_core.masks.anomaly_job import generate_with
from dsaii_core.workspace import Workspace
from tests.masks.test_anomaly import build


def anomaly_files(ws: Workspace) -> list[tuple[str, str, list]]:
    return [(m.file, ws.path(m.file).read_bytes().hex(), m.params["stream"]) for m in ws.catalog.masks(kind="anomaly")]


def test_the_job_writes_what_generate_for_class_writes(tmp_path):
    direct, job = build(tmp_path / "direct"), build(tmp_path / "job")
    expected = {}
    for cls in direct.classes():
        params = class_params(cls).replace(per_image=2, seed=4)
        expected[cls.name] = generate_for_class(direct, cls, params)
    reports = generate_with(job, [(cls, class_params(cls).replace(per_image=2, seed=4)) for cls in job.classes()])
    assert anomaly_files(job) == anomaly_files(direct) and len(anomaly_files(job)) == 10
    for cls in job.classes():
        got, want = reports[cls.id], expected[cls.name]
        assert (got.summary(), got.notes, got.misses) == (want.summary(), want.notes, want.misses)
        assert [job.catalog.mask(i).file for i in got.mask_ids] == [direct.catalog.mask(i).file for i in want.mask_ids]
    again = generate_with(job, [(cls, class_params(cls).replace(per_image=3, seed=4)) for cls in job.classes()])
    assert [r.written for r in again.values()] == [3, 2]
    nut = job.get_class("hazelnut")
    assert len(job.catalog.undo(nut.id, kinds=("anomaly_mask",)).decisions) == 3 and len(job.catalog.masks(kind="anomaly", class_id=nut.id)) == 6
