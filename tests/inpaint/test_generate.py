import numpy as np

from dsaii_core.atomic import sha256_bytes
from dsaii_core.inpaint.generate import InpaintTask, defect_sources, pending_pairs, start_inpaint_job
from dsaii_core.jobs import get_job, item_seed, run_job


def test_a_job_turns_every_pair_into_a_pending_anomaly_with_its_mask_seed_and_qc(masked_ws):
    ws = masked_ws
    cls = ws.get_class("hazelnut")
    pairs = pending_pairs(ws, cls)
    assert len(pairs) == 4
    job = run_job(ws, start_inpaint_job(ws, [cls], "classical", seed=5).id)
    assert (job.state, job.done, job.total) == ("done", 4, 4)
    made = [i for i in ws.catalog.items(class_id=cls.id, role="anomaly", statuses=("pending",))]
    assert sorted(i.mask_id for i in made) == sorted(m.id for m in pairs)
    for item in made:
        mask = ws.catalog.mask(item.mask_id)
        assert item.parent_id == mask.item_id and item.origin == "inpaint:classical"
        assert item.seed == item_seed(5, str(mask.id))
        assert set(item.info["qc"]) >= {"flags", "inside_mad", "outside_mad", "inside_ssim", "passed"}
        assert "transplant" in item.info["backend_label"].lower()  # the workspace has a real crack defect
        normal, anomaly = ws.read_image(ws.catalog.item(item.parent_id)), ws.read_image(item)
        assert anomaly.shape == normal.shape and not np.array_equal(anomaly, normal)
    assert pending_pairs(ws, cls) == []


def test_a_rejected_result_makes_its_pair_pending_again(masked_ws):
    ws = masked_ws
    cls = ws.get_class("hazelnut")
    run_job(ws, start_inpaint_job(ws, [cls], "classical").id)
    first = ws.catalog.items(class_id=cls.id, role="anomaly", statuses=("pending",))[0]
    ws.catalog.set_status([first.id], "rejected")
    assert [m.id for m in pending_pairs(ws, cls)] == [first.mask_id]


def test_real_defects_of_the_class_are_the_transplant_sources(masked_ws):
    sources = defect_sources(masked_ws, masked_ws.get_class("hazelnut"))
    assert len(sources) == 1 and sources[0].label == "crack" and sources[0].mask.any()


def test_the_worker_stages_its_image_in_the_workspace_and_the_driver_files_those_bytes(masked_ws):
    ws = masked_ws
    job = start_inpaint_job(ws, ws.classes(), "classical", seed=5)
    task = InpaintTask(ws, get_job(ws.catalog, job.id))
    key = str(pending_pairs(ws, ws.get_class("hazelnut"))[0].id)
    [output] = task.compute([key], [7])  # what a worker returns: the file's name and facts, not the pixels
    staged = ws.path(output.image.file)
    assert staged.is_relative_to(ws.root / "staging") and sha256_bytes(staged.read_bytes()) == output.image.sha256
    data = staged.read_bytes()
    item = ws.catalog.item(int(task.commit(key, 7, output)))
    assert not staged.exists() and ws.path(item.file).read_bytes() == data and item.sha256 == output.image.sha256
    task.compute([key], [8])  # a batch nobody files (a cancelled job's) is cleared when the job stops
    run_job(ws, job.id)
    assert not (ws.root / "staging" / f"job{job.id}").exists()


def test_an_images_masks_in_a_row_decode_it_once_and_each_gets_its_own_result(masked_ws, monkeypatch):
    ws = masked_ws
    cls = ws.get_class("hazelnut")
    for first in pending_pairs(ws, cls):  # a second mask per normal, filed right after the first
        item = ws.catalog.item(first.item_id)
        ws.add_mask(item, np.flip(ws.read_mask(first), axis=1), kind="anomaly", source="test")
    pairs = sorted(pending_pairs(ws, cls), key=lambda m: (m.item_id, m.id))
    reads: list[int] = []
    read_image = ws.read_image
    monkeypatch.setattr(ws, "read_image", lambda item: reads.append(item.id) or read_image(item))
    job = start_inpaint_job(ws, [cls], "classical", seed=3, masks=pairs)
    assert run_job(ws, job.id).done == 8
    normals = [m.item_id for m in pairs]
    assert [r for r in reads if r in normals] == sorted(set(normals))  # once each
    made = {i.mask_id: i for i in ws.catalog.items(class_id=cls.id, role="anomaly", statuses=("pending",))}
    for mask in pairs:
        anomaly, normal = read_image(made[mask.id]), read_image(ws.catalog.item(mask.item_id))
        outside = ws.read_mask(mask) == 0
        assert np.array_equal(anomaly[outside], normal[outside]) and not np.array_equal(anomaly, normal)
