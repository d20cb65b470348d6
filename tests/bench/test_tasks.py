"""A workspace's benchmark run as a background job: one class per item, resumable, cleaned up on errors."""

from __future__ import annotations

import pytest

from dsaii_core import jobs
from dsaii_core.bench.detectors import DetectorSpec
from dsaii_core.bench.runs import DATASET_FOLDER, load_report, stored_run
from dsaii_core.bench.tasks import start_bench_job
from dsaii_core.errors import DsaiiError


class CrashAfterFirstClass:
    """An executor that dies after the first batch, like a killed worker."""
    where = "a doomed worker"

    def map(self, ws, job, task, batches):
        first = next(iter(batches))
        yield first, task.compute(*first)
        raise RuntimeError("worker killed")


def test_a_killed_bench_job_resumes_at_the_next_class(bench_ws):
    job, run_id = start_bench_job(bench_ws, DetectorSpec("baseline"), shots=3, name="resumable")
    assert job.total == 2 and bench_ws.catalog.run_metrics([run_id]) == []
    with pytest.raises(RuntimeError, match="worker killed"):
        jobs.run_job(bench_ws, job.id, executor=CrashAfterFirstClass())
    done = {m.class_name for m in bench_ws.catalog.run_metrics([run_id])}
    assert done == {"hazelnut"}
    dataset = bench_ws.path(stored_run(bench_ws, run_id).maps_dir) / DATASET_FOLDER
    assert not (dataset / "hazelnut" / "train").exists() and (dataset / "hazelnut" / "test").is_dir()
    first = {m.metric: m.value for m in bench_ws.catalog.run_metrics([run_id])}
    jobs.prepare_resume(bench_ws.catalog, job.id)
    assert jobs.run_job(bench_ws, job.id).state == "done"
    report = load_report(bench_ws, run_id)
    assert [c.name for c in report.classes] == ["hazelnut", "transistor"]
    assert report.classes[0].metrics == first
    assert report.classes[1].notes[0].startswith("trained on 3 of")
    assert report.settings["shots"] == 3 and report.name == "resumable"


def test_nothing_to_benchmark_leaves_no_run_behind(tmp_path):
    from dsaii_core.workspace import Workspace
    ws = Workspace.create(tmp_path / "ws")
    ws.add_class("empty")
    with pytest.raises(DsaiiError, match="no class to benchmark"):
        start_bench_job(ws, DetectorSpec("baseline"))
    assert ws.catalog.runs() == [] and not any((ws.root / "runs").iterdir())
    with pytest.raises(DsaiiError, match="shots must be at least 1"):
        start_bench_job(ws, DetectorSpec("baseline"), shots=0)


def test_a_cancel_stops_the_class_that_is_running_and_resume_runs_it_again(bench_ws):
    job, run_id = start_bench_job(bench_ws, DetectorSpec("baseline"), shots=3, class_names=["hazelnut"])
    task = jobs.load_task(bench_ws, jobs.get_job(bench_ws.catalog, job.id))
    check = task._stop_when_cancelled(every_s=0)
    check(0.5)                                   # not cancelled: carries on
    jobs.request_cancel(bench_ws.catalog, job.id)
    with pytest.raises(DsaiiError, match="Resume runs it again"):
        check(0.6)
    outputs = task.compute(["hazelnut"], [0])    # the job's own progress check stops the class
    assert isinstance(outputs[0], DsaiiError)
