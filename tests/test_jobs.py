"""The resumable job runner, driven through the inpaint task with the weight-free backend."""

import os
import signal
import subprocess
import time

import pytest

from dsaii_core import imageio
from dsaii_core.errors import DsaiiError
from dsaii_core.inpaint.generate import start_inpaint_job
from dsaii_core.jobs import (MAX_ATTEMPTS, LocalExecutor, get_job, item_errors, item_seed, prepare_resume,
                             request_cancel, run_job, start_worker)
from tests.fixtures.masked_ws import build_masked_ws


def _wait(ws, job_id, until, timeout_s=120):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        job = get_job(ws.catalog, job_id)
        if until(job):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never reached the condition: {get_job(ws.catalog, job_id)}")


def _assert_complete_and_valid(ws, job_id):
    job = get_job(ws.catalog, job_id)
    assert (job.state, job.done, job.failed) == ("done", job.total, 0)
    anomalies = [i for i in ws.catalog.items(role="anomaly") if i.origin.startswith("inpaint:")]
    masks = [m.id for m in ws.catalog.masks(kind="anomaly") if ws.catalog.item(m.item_id).role == "normal"]
    assert sorted(i.mask_id for i in anomalies) == sorted(masks)  # one result per pair: none lost, none twice
    rows = ws.catalog.db.execute("SELECT key, result FROM job_items WHERE job_id = ?", (job_id,)).fetchall()
    assert sorted(int(r["result"]) for r in rows) == sorted(i.id for i in anomalies)
    for item in anomalies:
        assert imageio.read_image(ws.path(item.file)).shape == (item.height, item.width, 3)
        assert item.seed == item_seed(job.params["seed"], str(item.mask_id))
    named = {i.file for i in ws.catalog.items(role="anomaly")}
    on_disk = {p.relative_to(ws.root).as_posix() for p in (ws.root / "classes").rglob("anomaly/*.png")}
    assert on_disk == named  # no orphan files


def test_a_worker_killed_mid_batch_resumes_to_a_complete_valid_set(tmp_path):
    ws = build_masked_ws(tmp_path / "ws", normals=10, size=768)
    job = start_inpaint_job(ws, ws.classes(), "classical", seed=9)
    pid = start_worker(ws, job.id)
    _wait(ws, job.id, lambda j: j.done >= 2)
    os.kill(pid, signal.SIGKILL)
    interrupted = _wait(ws, job.id, lambda j: j.state == "interrupted", 10)
    assert interrupted.done < interrupted.total and interrupted.resumable and interrupted.runs_on == "this machine"
    run_job(ws, prepare_resume(ws.catalog, job.id).id)
    _assert_complete_and_valid(ws, job.id)


def test_cancel_stops_the_background_worker_and_resume_finishes(tmp_path):
    ws = build_masked_ws(tmp_path / "ws", normals=10, size=768)
    job = start_inpaint_job(ws, ws.classes(), "classical")
    start_worker(ws, job.id)
    _wait(ws, job.id, lambda j: j.done >= 1)
    request_cancel(ws.catalog, job.id)
    cancelled = _wait(ws, job.id, lambda j: j.state == "cancelled", 60)
    assert cancelled.done < cancelled.total
    prepare_resume(ws.catalog, job.id)
    start_worker(ws, job.id)
    _wait(ws, job.id, lambda j: j.state == "done", 120)
    _assert_complete_and_valid(ws, job.id)


def test_a_failing_item_is_retried_then_failed_while_the_rest_completes(tmp_path):
    ws = build_masked_ws(tmp_path / "ws", normals=3, size=96)
    broken = [m for m in ws.catalog.masks(kind="anomaly") if m.source == "drawn"][1]
    saved = ws.path(broken.file).read_bytes()
    ws.path(broken.file).write_bytes(b"not a png")
    job = run_job(ws, start_inpaint_job(ws, ws.classes(), "classical").id)
    assert (job.state, job.done, job.failed) == ("failed", 2, 1)
    assert "1 of 3 items failed" in job.error
    [(key, error)] = item_errors(ws.catalog, job.id)
    assert key == str(broken.id) and "not an image" in error
    attempts = ws.catalog.db.execute("SELECT attempts FROM job_items WHERE job_id = ? AND key = ?",
                                     (job.id, key)).fetchone()[0]
    assert attempts == MAX_ATTEMPTS
    ws.path(broken.file).write_bytes(saved)
    run_job(ws, prepare_resume(ws.catalog, job.id).id)
    _assert_complete_and_valid(ws, job.id)


def test_an_error_that_dooms_the_job_fails_it_with_the_message(tmp_path):
    ws = build_masked_ws(tmp_path / "ws", normals=2, size=64)
    job = start_inpaint_job(ws, ws.classes(), "webui", options={"url": "http://127.0.0.1:9"})
    with pytest.raises(DsaiiError, match="no Stable Diffusion web UI"):
        run_job(ws, job.id)
    failed = get_job(ws.catalog, job.id)
    assert failed.state == "failed" and "no Stable Diffusion web UI" in failed.error and failed.done == 0


def test_a_job_with_a_live_worker_cannot_be_run_twice_and_a_dead_one_is_interrupted(tmp_path):
    ws = build_masked_ws(tmp_path / "ws", normals=2, size=64)
    job = start_inpaint_job(ws, ws.classes(), "classical")
    other = subprocess.Popen(["sleep", "60"])
    try:
        with ws.catalog.transaction() as conn:
            conn.execute("UPDATE jobs SET state = 'running', pid = ?, heartbeat = ? WHERE id = ?",
                         (other.pid, time.time(), job.id))
        assert get_job(ws.catalog, job.id).state == "running"
        with pytest.raises(DsaiiError, match="already running"):
            run_job(ws, job.id)
    finally:
        other.kill()
        other.wait()
    assert get_job(ws.catalog, job.id).state == "interrupted"
    assert run_job(ws, job.id).state == "done"


def test_batches_go_through_the_executor_in_batch_size_chunks(tmp_path):
    ws = build_masked_ws(tmp_path / "ws", normals=5, size=64)
    from dsaii_core.inpaint.base import InpaintParams

    class RecordingExecutor(LocalExecutor):
        batches = []

        def map(self, ws, job, task, batches):
            for batch in batches:
                self.batches.append(list(batch[0]))
                yield batch, task.compute(*batch)

    job = start_inpaint_job(ws, ws.classes(), "classical", params=InpaintParams(batch_size=2))
    progress = []
    assert run_job(ws, job.id, executor=RecordingExecutor(), progress=progress.append).state == "done"
    assert [len(b) for b in RecordingExecutor.batches] == [2, 2, 1]
    assert progress[-1] == 1.0 and progress == sorted(progress)


def test_item_seeds_are_stable_and_change_on_retry():
    assert item_seed(0, "7") == item_seed(0, "7") != item_seed(1, "7")
    assert item_seed(0, "7", 1) == item_seed(0, "7") + 1 and 0 <= item_seed(3, "x") < 2 ** 31


def test_a_pool_of_worker_processes_gives_the_bytes_of_one_process(tmp_path):
    """Local jobs use every core; the driver files the outputs in order, so the results are byte-identical."""
    made = []
    for workers in (1, 2):
        ws = build_masked_ws(tmp_path / f"ws{workers}", normals=10, size=128)
        job = run_job(ws, start_inpaint_job(ws, ws.classes(), "classical", seed=4).id,
                      executor=LocalExecutor(workers, pool_after_s=0))  # the pool from the first batch
        assert (job.state, job.done) == ("done", 10)
        made.append([(i.file, i.sha256, i.seed, i.mask_id, ws.path(i.file).read_bytes())
                     for i in ws.catalog.items(role="anomaly") if i.origin.startswith("inpaint:")])
    assert made[0] == made[1] and len(made[0]) == 10


def test_the_pool_starts_only_when_the_batches_left_would_take_long_here():
    executor = LocalExecutor(2, pool_after_s=20)
    assert not executor._pool_pays(0, 0.0, 1000)    # nothing timed yet: keep going here
    assert not executor._pool_pays(2, 0.2, 100)     # 0.1 s a batch, 100 left: 10 s here, not worth processes
    assert executor._pool_pays(1, 1.0, 30)          # 1 s a batch, 30 left: 30 s here, the pool pays


def test_a_task_that_must_stay_in_the_driver_never_reaches_the_pool(tmp_path, monkeypatch):
    from dsaii_core.inpaint.generate import InpaintTask
    ws = build_masked_ws(tmp_path / "ws", normals=3, size=64)
    monkeypatch.setattr(InpaintTask, "in_driver", True)
    monkeypatch.setattr(LocalExecutor, "_pool_pays", lambda *args: pytest.fail("the pool was considered"))
    job = start_inpaint_job(ws, ws.classes(), "classical")
    assert run_job(ws, job.id, executor=LocalExecutor(2, pool_after_s=0)).state == "done"


def test_a_full_disk_is_told_in_words_on_the_job(tmp_path, monkeypatch):
    import errno

    from dsaii_core.inpaint.generate import InpaintTask
    masked_ws = build_masked_ws(tmp_path / "ws", normals=3, size=64)

    def full(self, keys, seeds):
        raise OSError(errno.ENOSPC, "No space left on device", "/ws/staging/x.png")

    monkeypatch.setattr(InpaintTask, "compute", full)
    job = start_inpaint_job(masked_ws, masked_ws.classes(), "classical")
    with pytest.raises(OSError):
        run_job(masked_ws, job.id)
    assert get_job(masked_ws.catalog, job.id).error.startswith("The disk is full (/ws/staging/x.png could not")
