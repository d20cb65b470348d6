"""Object-mask candidates as a job: the masks generate_for_class then writes are the ones it writes alone."""

from __future__ import annotations

import shutil

from dsaii_core.masks import objects
from dsaii_core.masks.object_job import make_candidates
from dsaii_core.masks.objects import ObjectMaskParams
from dsaii_core.workspace import Workspace


def object_files(ws: Workspace) -> list[tuple[str, str, str, float | None]]:
    return [(m.file, ws.path(m.file).read_bytes().hex(), m.source, m.confidence)
            for m in ws.catalog.masks(kind="object")]


def test_cached_candidates_give_the_masks_of_a_plain_run(tiny_ws, tmp_path):
    shutil.copytree(tiny_ws.root, tmp_path / "plain")
    plain = Workspace.open(tmp_path / "plain")
    cls = tiny_ws.get_class("hazelnut")
    objects.generate_for_class(plain, plain.get_class("hazelnut"))
    job = make_candidates(tiny_ws, [cls], ObjectMaskParams())
    assert (job.state, job.done) == ("done", 3)
    assert len(list((tiny_ws.cache_dir / "object_candidates").glob("*.npz"))) == 3
    assert objects.generate_for_class(tiny_ws, cls).written == 3
    assert object_files(tiny_ws) == object_files(plain) and len(object_files(plain)) == 3
    assert make_candidates(tiny_ws, [cls], ObjectMaskParams()) is None  # every image has its mask
    assert make_candidates(tiny_ws, [cls], ObjectMaskParams(redo=True)).total == 3
