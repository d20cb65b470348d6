"""Jobs on a Ray cluster (one local cluster on 127.0.0.1 for the module): the same bytes as a local run,
a worker killed mid-job, cancellation and resume, GPUs for GPU work, and the CLI flags; weight-free backends and
tiny random models (SAM, Stable Diffusion)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import ray

from dsaii_core.errors import DsaiiError
from dsaii_core.inpaint.generate import start_inpaint_job
from dsaii_core.jobs import (ExecutorChoice, get_job, item_seed, prepare_resume, request_cancel, run_job,
                             start_worker)
from dsaii_core.masks.anomaly import class_params
from dsaii_core.masks.anomaly_job import generate_with
from dsaii_core.ray_executor import RayExecutor
from dsaii_core.workspace import Workspace
from scripts.browser import free_port
from tests.fixtures.masked_ws import build_masked_ws
from tests.masks.test_anomaly import build as build_anomaly_ws
from tests.masks.test_anomaly_job import anomaly_files


@pytest.fixture(scope="module")
def cluster() -> str:
    """A Ray cluster on this machine with two CPUs and one GPU (declared to Ray: there is none); yields its address."""
    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, _node_ip_address="127.0.0.1", logging_level="WARNING")
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture
def executor(cluster):
    runner = RayExecutor(workers=2)
    yield runner
    runner.close()


def anomalies(ws: Workspace) -> list[tuple]:
    """Every synthetic anomaly: file, bytes, seed, mask and QC, in catalog order."""
    return [(i.file, i.sha256, i.seed, i.mask_id, i.info["qc"]) for i in ws.catalog.items(role="anomaly")
            if i.origin.startswith("inpaint:")]


def inpaint(ws: Workspace, executor=None, progress=lambda f: None):
    job = start_inpaint_job(ws, ws.classes(), "classical", seed=3)
    return run_job(ws, job.id, executor=executor, progress=progress)


def test_inpainting_on_ray_writes_the_bytes_a_local_run_writes(tmp_path, executor):
    local, remote = build_masked_ws(tmp_path / "local", normals=6), build_masked_ws(tmp_path / "ray", normals=6)
    assert inpaint(local).state == "done"
    job = inpaint(remote, executor)
    assert (job.state, job.done, job.runs_on) == ("done", 6, "Ray (a cluster on this machine)")
    assert anomalies(remote) == anomalies(local) and len(anomalies(local)) == 6
    assert len(set(executor.pids)) == 2 and os.getpid() not in executor.pids
    assert len(list((remote.cache_dir / "ray").glob("catalog-*.sqlite"))) == 1  # the workers' catalog snapshot
    executor.close()
    assert not list((remote.cache_dir / "ray").glob("catalog-*.sqlite"))


def test_anomaly_masks_on_ray_are_the_local_ones(tmp_path, executor):
    local, remote = build_anomaly_ws(tmp_path / "local"), build_anomaly_ws(tmp_path / "ray")
    plan = lambda ws: [(c, class_params(c).replace(per_image=2, seed=9)) for c in ws.classes()]  # noqa: E731
    want = generate_with(local, plan(local))
    got = generate_with(remote, plan(remote), executor)
    assert anomaly_files(remote) == anomaly_files(local) and len(anomaly_files(local)) == 10
    assert [r.summary() for r in got.values()] == [r.summary() for r in want.values()]
    assert [r.notes for r in got.values()] == [r.notes for r in want.values()]


def worker_killer(executor):
    """A progress callback that kill -9s one Ray worker once the job is under way, and the pids it killed."""
    killed: list[int] = []

    def kill_a_worker(fraction: float) -> None:
        if 0 < fraction < 1 and not killed:
            killed.append(executor.pids[0])
            os.kill(killed[0], signal.SIGKILL)
    return kill_a_worker, killed


def test_a_worker_killed_mid_job_is_replaced_and_the_job_completes(tmp_path, executor):
    local, remote = build_masked_ws(tmp_path / "local", normals=8), build_masked_ws(tmp_path / "ray", normals=8)
    inpaint(local)
    kill_a_worker, killed = worker_killer(executor)
    job = inpaint(remote, executor, kill_a_worker)
    assert killed and (job.state, job.done, job.failed) == ("done", 8, 0)
    assert anomalies(remote) == anomalies(local)
    alive = ray.get([actor.ready.remote() for actor in executor._actors])
    assert killed[0] not in alive and len(alive) == 2


def test_a_cancelled_job_stops_between_batches_and_resumes_to_the_local_result(tmp_path, executor):
    local, remote = build_masked_ws(tmp_path / "local", normals=8), build_masked_ws(tmp_path / "ray", normals=8)
    inpaint(local)
    job = start_inpaint_job(remote, remote.classes(), "classical", seed=3)

    def cancel_after_the_first(fraction: float) -> None:
        if fraction > 0:
            request_cancel(remote.catalog, job.id)

    stopped = run_job(remote, job.id, executor=executor, progress=cancel_after_the_first)
    assert stopped.state == "cancelled" and 1 <= stopped.done < 8
    assert len(anomalies(remote)) == stopped.done
    resumed = run_job(remote, prepare_resume(remote.catalog, job.id).id, executor=executor)
    assert (resumed.state, resumed.done) == ("done", 8)
    assert anomalies(remote) == anomalies(local)
    assert get_job(remote.catalog, job.id).failed == 0


def test_the_cli_runs_anomaly_masks_on_a_given_cluster(tmp_path, cluster):
    local, remote = build_anomaly_ws(tmp_path / "local"), build_anomaly_ws(tmp_path / "ray")
    for ws, flags in ((local, []), (remote, ["--executor", "ray", "--ray-address", cluster, "--workers", "1"])):
        done = subprocess.run([sys.executable, "-m", "dsaii_core", "anomaly-masks", str(ws.root), "--per-image", "2",
                               *flags], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "hazelnut: 6 anomaly masks written" in done.stdout
    assert anomaly_files(Workspace.open(remote.root)) == anomaly_files(Workspace.open(local.root))


def test_object_masks_with_a_tiny_sam_on_ray_are_the_local_ones(tiny_ws, tmp_path, executor):
    from dsaii_core.masks.object_job import generate_with, load_backend
    from dsaii_core.masks.objects import ObjectMaskParams
    from dsaii_core.masks.sam_config import AutoParams, SamConfig
    from tests.fixtures.tiny_sam import tiny_sam_checkpoint
    from tests.masks.test_object_job import object_files
    shutil.copytree(tiny_ws.root, tmp_path / "ray")
    local, remote = tiny_ws, Workspace.open(tmp_path / "ray")
    config = SamConfig(tiny_sam_checkpoint(tmp_path / "sam_tiny.pth"), "tiny")
    params = ObjectMaskParams(method="sam", sam=AutoParams(points_per_side=2))
    for ws, runner in ((local, None), (remote, executor)):
        backend = load_backend(config, ws.cache_dir / "sam")
        computed = backend.predictor.computed
        assert generate_with(ws, ws.classes(), params, config, runner)[ws.get_class("hazelnut").id].written == 3
        if runner is not None:
            assert len(set(runner.pids)) == 1  # SAM workers ask for a GPU: the one GPU holds one
            assert backend.predictor.computed == computed  # the masks written here came from the workers' cache
    assert object_files(remote) == object_files(local) and {m[2].split(":")[0] for m in object_files(local)} == {"sam"}


def test_a_bench_run_on_ray_scores_and_maps_like_a_local_one(tmp_path, executor):
    from dsaii_core.bench import map_store
    from dsaii_core.bench.detectors import DetectorSpec
    from dsaii_core.bench.runs import load_report, run_detector
    from tests.fixtures.bench_data import build_bench_workspace
    template = build_bench_workspace(tmp_path / "template")
    reports, maps = [], []
    for name, runner in (("local", None), ("ray", executor)):
        shutil.copytree(template, tmp_path / name)
        report = run_detector(tmp_path / name, DetectorSpec("baseline", seed=1), shots=3, executor=runner)
        ws = Workspace.open(tmp_path / name)
        reports.append([(c.name, c.metrics) for c in load_report(ws, report.run_id).classes])
        folder = ws.path(ws.catalog.runs()[0].maps_dir)
        maps.append({(cls, key): stored.full().tobytes() for cls in ("hazelnut", "transistor")
                     for key, stored in map_store.read_class(folder, cls).items()})
    assert maps[0] == maps[1] and len(maps[0]) > 4
    # Ray runs a one-CPU worker's torch on one thread: a metric's float sums may differ in the last bits.
    assert [name for name, _ in reports[1]] == [name for name, _ in reports[0]] == ["hazelnut", "transistor"]
    for (_, got), (_, want) in zip(reports[1], reports[0]):
        assert got == pytest.approx(want, rel=1e-12, abs=1e-12)


def test_the_app_worker_runs_on_the_cluster_the_workspace_names(tmp_path, cluster):
    local, remote = build_masked_ws(tmp_path / "local"), build_masked_ws(tmp_path / "ray")
    inpaint(local)
    ExecutorChoice("ray", cluster, workers=1).save(remote.catalog)
    job = start_inpaint_job(remote, remote.classes(), "classical", seed=3)
    start_worker(remote, job.id)
    deadline = time.time() + 120
    while get_job(remote.catalog, job.id).state not in ("done", "failed", "interrupted") and time.time() < deadline:
        time.sleep(0.2)
    assert get_job(remote.catalog, job.id).state == "done", (remote.cache_dir / "jobs" / f"{job.id}.log").read_text()
    assert anomalies(remote) == anomalies(local)


def test_a_worker_that_keeps_dying_costs_its_items_one_attempt_and_is_replaced(tmp_path, executor, monkeypatch):
    monkeypatch.setattr("dsaii_core.ray_executor.RESTARTS", 0)  # no restart: the first death is final
    ws = build_masked_ws(tmp_path / "ray", normals=8)
    kill_a_worker, killed = worker_killer(executor)
    job = inpaint(ws, executor, kill_a_worker)
    assert killed and (job.state, job.done, job.failed) == ("done", 8, 0)
    retried = {r["key"] for r in ws.catalog.db.execute("SELECT key FROM job_items WHERE job_id = ? AND attempts = 1",
                                                       (job.id,))}
    assert len(retried) == 1  # the batch the dead worker had
    assert {str(i.mask_id) for i in ws.catalog.items(role="anomaly")
            if i.origin.startswith("inpaint:") and i.seed != item_seed(3, str(i.mask_id))} \
        == retried  # retried items got their next seed, as a failed attempt does locally
    assert killed[0] not in executor.pids and len(executor.pids) == 2


class _Work:
    def __init__(self, uses_gpu: bool):
        self.uses_gpu = uses_gpu


def test_gpu_work_asks_for_a_gpu_where_the_cluster_has_one_unless_told(cluster, monkeypatch):
    assert RayExecutor().gpus_for(_Work(uses_gpu=True)) == 1.0  # else Ray would hide the GPUs from the worker
    assert RayExecutor().gpus_for(_Work(uses_gpu=False)) == 0.0
    assert RayExecutor(num_gpus=0.5).gpus_for(_Work(uses_gpu=False)) == 0.5
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 2.0})  # a cluster of CPU nodes
    assert RayExecutor().gpus_for(_Work(uses_gpu=True)) == 0.0


def test_asking_for_more_gpus_than_the_cluster_has_fails_at_once(tmp_path, cluster):
    ws = build_masked_ws(tmp_path / "ray", normals=2)
    runner = RayExecutor(num_gpus=2, workers=1)  # a worker that could never be placed would wait forever
    with pytest.raises(DsaiiError, match="the Ray cluster has 1 GPUs; each worker asks for 2"):
        inpaint(ws, runner)
    runner.close()
    job = ws.catalog.db.execute("SELECT id FROM jobs").fetchone()[0]
    assert get_job(ws.catalog, job).state == "failed" and get_job(ws.catalog, job).resumable


def test_a_cluster_address_nothing_answers_on_fails_at_once(tiny_ws):
    port = free_port()  # nobody listens there
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "dsaii_core", "anomaly-masks", str(tiny_ws.root), "--source",
                           "procedural", "--executor", "ray", "--ray-address", f"127.0.0.1:{port}"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and time.monotonic() - started < 60  # ray.init alone waits for it forever
    assert f"error: cannot reach the Ray cluster at 127.0.0.1:{port}: Connection refused" in done.stderr


def test_stable_diffusion_inpainting_on_ray_gets_a_gpu_worker_and_writes_the_local_bytes(tmp_path, executor):
    from dsaii_core.inpaint.base import InpaintParams
    from tests.fixtures.tiny_inpaint import build_tiny_inpaint_pipeline
    build_tiny_inpaint_pipeline(tmp_path / "sd")
    options = {"model": str(tmp_path / "sd" / "model"), "config": None}
    params = InpaintParams(steps=1, strength=1.0, guidance=1.0, batch_size=2)
    local, remote = build_masked_ws(tmp_path / "local", normals=4), build_masked_ws(tmp_path / "ray", normals=4)
    import torch
    # Ray gives each worker one CPU (OMP_NUM_THREADS=1), and on a CPU a model's float sums depend on the number of
    # threads: with the same number here, the bytes are the same.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for ws, runner in ((local, None), (remote, executor)):
            job = start_inpaint_job(ws, ws.classes(), "diffusers", options=options, params=params, seed=3)
            assert run_job(ws, job.id, executor=runner).state == "done"
    finally:
        torch.set_num_threads(threads)
    assert anomalies(remote) == anomalies(local) and len(anomalies(local)) == 4
    assert len(set(executor.pids)) == 1  # a Stable Diffusion worker asks for a GPU: the cluster's one GPU holds one
