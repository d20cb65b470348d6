"""Anomaly masks as a job: the same bytes on one process and on a pool; top-ups; one undo step per class."""

from __future__ import annotations

from dsaii_core.jobs import LocalExecutor
from dsaii_core.masks.anomaly import class_params
from dsaii_core.masks.anomaly_job import generate_with
from dsaii_core.workspace import Workspace
from tests.masks.test_anomaly import build


def anomaly_files(ws: Workspace) -> list[tuple[str, str, list]]:
    return [(m.file, ws.path(m.file).read_bytes().hex(), m.params["stream"]) for m in ws.catalog.masks(kind="anomaly")]


def test_one_process_and_a_pool_write_the_same_masks_and_reports(tmp_path):
    here, pool = build(tmp_path / "here"), build(tmp_path / "pool")
    want = generate_with(here, [(cls, class_params(cls).replace(per_image=2, seed=4)) for cls in here.classes()])
    got = generate_with(pool, [(cls, class_params(cls).replace(per_image=2, seed=4)) for cls in pool.classes()],
                        LocalExecutor(2, pool_after_s=0))
    assert anomaly_files(pool) == anomaly_files(here) and len(anomaly_files(here)) == 10
    for cls in here.classes():
        a, b = want[cls.id], got[cls.id]
        assert (a.summary(), a.notes, a.misses, a.mask_ids) == (b.summary(), b.notes, b.misses, b.mask_ids)


def test_a_rerun_tops_images_up_and_each_run_is_one_undo_step_per_class(tmp_path):
    ws = build(tmp_path / "ws")
    generate_with(ws, [(cls, class_params(cls).replace(per_image=2, seed=4)) for cls in ws.classes()])
    again = generate_with(ws, [(cls, class_params(cls).replace(per_image=3, seed=4)) for cls in ws.classes()])
    assert [r.written for r in again.values()] == [3, 2] and [r.complete for r in again.values()] == [0, 0]
    nut = ws.get_class("hazelnut")
    undone = ws.catalog.undo(nut.id, kinds=("anomaly_mask",))
    assert undone.action.label.startswith("anomaly mask run") and len(undone.decisions) == 3
    assert len(ws.catalog.masks(kind="anomaly", class_id=nut.id)) == 6
