import numpy as np
import pytest

from dsaii_core.errors import DsaiiError
from dsaii_core.inpaint import review
from dsaii_core.inpaint.generate import start_inpaint_job
from dsaii_core.jobs import run_job
from dsaii_core.workspace import Workspace


def test_tiles_pair_each_anomaly_with_its_normal_and_mask_and_filter(reviewed_ws):
    tiles = review.tiles(reviewed_ws)
    assert len(tiles) == 4  # the imported real defect is not a synthetic anomaly
    for tile in tiles:
        assert tile.normal.id == tile.anomaly.parent_id and tile.mask.id == tile.anomaly.mask_id
    assert review.tiles(reviewed_ws, backend="diffusers") == []
    passed, flagged = review.tiles(reviewed_ws, flag="passed"), review.tiles(reviewed_ws, flag="flagged")
    assert len(passed) + len(flagged) == 4
    strip = review.tile_strip(reviewed_ws, tiles[0], 64)
    assert strip.shape[0] == 64 and strip.shape[1] > 3 * 64


def test_decisions_are_logged_with_the_user_and_undone(reviewed_ws):
    ws = reviewed_ws
    first, second = [t.anomaly.id for t in review.tiles(ws)[:2]]
    assert review.decide(ws, [first], "accepted", user="ana") == 1
    assert review.decide(ws, [second], "rejected", user="ana") == 1
    entry = ws.catalog.history(limit=1)[0]
    assert (entry.user, entry.target_id, entry.new) == ("ana", second, "rejected")
    ws.catalog.undo(ws.get_class("hazelnut").id, kinds=("review",))
    assert ws.catalog.item(second).status == "pending" and ws.catalog.item(first).status == "accepted"
    with pytest.raises(DsaiiError, match="not a synthetic anomaly"):
        review.decide(ws, [ws.catalog.items(role="normal")[0].id], "accepted")


def test_bulk_accept_takes_only_results_that_pass_qc(reviewed_ws):
    ws = reviewed_ws
    tile = review.tiles(ws)[0]
    info = {**tile.anomaly.info, "qc": {**tile.anomaly.info["qc"], "flags": ["no_visible_defect"], "passed": False}}
    ws.catalog.set_item_fields(tile.anomaly.id, info=info)  # as if QC had flagged it
    passing = {t.anomaly.id for t in review.tiles(ws, flag="passed")}
    assert tile.anomaly.id not in passing
    assert review.accept_passing_qc(ws, user="bo") == len(passing)
    assert {i.id for i in ws.catalog.items(role="anomaly", statuses=("accepted",)) if i.origin != "import"} == passing
    assert ws.catalog.item(tile.anomaly.id).status == "pending"
    ws.catalog.undo(ws.get_class("hazelnut").id, kinds=("review",))  # one undo reverts the whole bulk accept
    assert all(ws.catalog.item(i).status == "pending" for i in passing)


def test_regenerate_makes_a_new_result_with_a_new_seed_and_rejects_the_old(reviewed_ws):
    ws = reviewed_ws
    old = review.tiles(ws)[0].anomaly
    job = review.regenerate(ws, old.id, user="cy")
    assert job.state == "done"
    new = [i for i in ws.catalog.items(role="anomaly", statuses=("pending",)) if i.mask_id == old.mask_id]
    assert len(new) == 1 and new[0].seed != old.seed and new[0].parent_id == old.parent_id
    assert not np.array_equal(ws.read_image(new[0]), ws.read_image(old))
    assert ws.catalog.item(old.id).status == "rejected"
    assert ws.catalog.history(limit=1)[0].user == "cy"


def test_regenerate_then_undo_leaves_one_accepted_anomaly_per_mask(reviewed_ws):
    """Accept, regenerate, undo: the old result is back and the new one is gone (not both accepted)."""
    ws = reviewed_ws
    cls = ws.get_class("hazelnut")
    old = review.tiles(ws)[0].anomaly
    review.decide(ws, [old.id], "accepted", user="cy")
    review.regenerate(ws, old.id, user="cy")
    new = next(i for i in ws.catalog.items(role="anomaly", statuses=("pending",)) if i.mask_id == old.mask_id)
    undone = ws.catalog.undo(cls.id, "cy", kinds=("review",))
    assert undone.action.label == f"regenerated anomaly {old.file.rsplit('/', 1)[1]}"
    assert ws.catalog.item(old.id).status == "accepted" and ws.catalog.item(new.id).status == "deleted"
    review.regenerate(ws, old.id, user="cy")  # again, then accept the new result, then undo twice
    newer = next(i for i in ws.catalog.items(role="anomaly", statuses=("pending",)) if i.mask_id == old.mask_id)
    review.decide(ws, [newer.id], "accepted", user="cy")
    assert ws.catalog.undo(cls.id, "cy", kinds=("review",)).action.label == "accepted 1 anomaly"
    ws.catalog.undo(cls.id, "cy", kinds=("review",))
    accepted = [i.id for i in ws.catalog.items(cls.id, "anomaly", ("accepted",)) if i.mask_id == old.mask_id]
    assert accepted == [old.id]
    assert [p for p in review.class_progress(ws) if p.name == "hazelnut"][0].accepted == 1


def test_two_reviewers_never_lose_each_others_decisions(reviewed_ws):
    ws_a, ws_b = reviewed_ws, Workspace.open(reviewed_ws.root)  # two app sessions, two connections
    ids = [t.anomaly.id for t in review.tiles(ws_a)]
    seen_by_b = review.tiles(ws_b)  # b loaded the grid before a decided
    review.decide(ws_a, [ids[0]], "accepted", user="a")
    review.decide(ws_b, [seen_by_b[1].anomaly.id], "rejected", user="b")
    review.decide(ws_a, [ids[2]], "rejected", user="a")
    review.decide(ws_b, [seen_by_b[3].anomaly.id], "accepted", user="b")
    statuses = [ws_a.catalog.item(i).status for i in ids]
    assert statuses == ["accepted", "rejected", "rejected", "accepted"]
    assert {d.user for d in ws_b.catalog.history(limit=4)} == {"a", "b"}


def test_progress_counts_against_the_class_target(reviewed_ws):
    ws = reviewed_ws
    cls = ws.get_class("hazelnut")
    review.decide(ws, [review.tiles(ws)[0].anomaly.id], "accepted")
    progress = review.class_progress(ws)[0]
    assert (progress.target, progress.accepted, progress.pending) == (4, 1, 3)
    review.set_target(ws, cls, 2)
    assert review.class_progress(ws)[0].fraction == 0.5
