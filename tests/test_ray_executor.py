"""Jobs on a Ray cluster (one local cluster on 127.0.0.1 for the module): the same bytes as a local run,
a worker killed mid-job, cancellation and resume, and the CLI flags."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
import ray

from dsaii_core.inpaint.generate import start_inpaint_job
from dsaii_core.jobs import get_job, prepare_resume, request_cancel, run_job
from dsaii_core.masks.anomaly import class_params
from dsaii_core.masks.anomaly_job import generate_with
from dsaii_core.ray_executor import RayExecutor
from dsaii_core.workspace import Workspace
from tests.fixtures.masked_ws import build_masked_ws
from tests.masks.test_anomaly import build as build_anomaly_ws
from tests.masks.test_anomaly_job import anomaly_files


@pytest.fixture(scope="module")
def cluster() -> str:
    """A two-CPU Ray cluster on this machine; yields its address."""
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", logging_level="WARNING")
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
    assert (job.state, job.done) == ("done", 6)
    assert anomalies(remote) == anomalies(local) and len(anomalies(local)) == 6
    assert len(set(executor.pids)) == 2 and os.getpid() not in executor.pids


def test_anomaly_masks_on_ray_are_the_local_ones(tmp_path, executor):
    local, remote = build_anomaly_ws(tmp_path / "local"), build_anomaly_ws(tmp_path / "ray")
    plan = lambda ws: [(c, class_params(c).replace(per_image=2, seed=9)) for c in ws.classes()]  # noqa: E731
    want = generate_with(local, plan(local))
    got = generate_with(remote, plan(remote), executor)
    assert anomaly_files(remote) == anomaly_files(local) and len(anomaly_files(local)) == 10
    assert [r.summary() for r in got.values()] == [r.summary() for r in want.values()]
    assert [r.notes for r in got.values()] == [r.notes for r in want.values()]


def test_a_worker_killed_mid_job_is_replaced_and_the_job_completes(tmp_path, executor):
    local, remote = build_masked_ws(tmp_path / "local", normals=8), build_masked_ws(tmp_path / "ray", normals=8)
    inpaint(local)
    killed = []

    def kill_a_worker(fraction: float) -> None:
        if 0 < fraction < 1 and not killed:
            killed.append(executor.pids[0])
            os.kill(killed[0], signal.SIGKILL)

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
